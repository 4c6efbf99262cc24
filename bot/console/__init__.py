"""The operations console (/console): today's SOP sends, channel funnels and group health.

Pages read daily rollups (`rollup.py`, tables in `tables.py`) kept up to date by a periodic
job, never the raw logs; who may see which store is decided in `access.py` on every request.
"""
