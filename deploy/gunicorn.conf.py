"""gunicorn settings for rebot: `gunicorn --config deploy/gunicorn.conf.py "bot:create_app()"`.

GUNICORN_BIND, WEB_CONCURRENCY and GUNICORN_THREADS override them (not REBOT_* names: rebot refuses
REBOT_* variables it does not know)."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")  # nginx (TLS) in front
# Sync workers with a few threads: a command waits on the database, rarely on the CPU. Each worker is
# a process with its own connection pool (pool_size 5 + overflow 10 on PostgreSQL): keep
# workers × 15 × hosts (+ schedulers and push workers) under PostgreSQL's max_connections.
# gthread workers read a request body in the thread that serves it: a client sending its body a byte at a
# time holds that thread. They are safe only behind nginx with request buffering on (its default,
# `proxy_request_buffering on`, plus `client_body_timeout` and `client_max_body_size`, docs/operations.md
# § Security): nginx then hands gunicorn whole requests only.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
raw_env = [f"REBOT_SERVER_THREADS={threads}"]  # callbacks keep one thread free for the others (README)
timeout = 30  # WeChat gives up after 5 s; a stuck worker is restarted after this
graceful_timeout = 10
keepalive = 5
max_requests = 5000  # recycle workers now and then (memory)
max_requests_jitter = 500
accesslog = None  # nginx logs requests; rebot logs what matters, without message texts
# If you turn the access log on (accesslog = "-"): the path without its query string (%(U)s, not %(r)s),
# which carries WeChat's signature, nonce and the sender's openid; no referrer (console URLs).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

errorlog = "-"
