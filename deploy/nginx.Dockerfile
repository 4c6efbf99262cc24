# nginx from Debian's packages in front of the replicas, for docker-compose.yml's local
# trial: round robin on the callback URL (nginx.conf). Built from the bot's Debian base, so
# the trial needs no registry. Production: your own HTTPS proxy (docs/deployment.md).
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx.conf /etc/nginx/conf.d/default.conf
EXPOSE 8080
# SIGQUIT: nginx finishes the requests in progress, then exits.
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
