"""客户朋友圈 (Moments) as a way to send (docs/moments.md): an SOP with ``via: moment`` makes
one moment task per store for its staff to post, followed until each has posted (reminded
when they have not), with the result recorded per staff member."""
