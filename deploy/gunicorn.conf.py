"""gunicorn settings for rebot: `gunicorn --config deploy/gunicorn.conf.py "bot:create_app()"`.

GUNICORN_BIND, WEB_CONCURRENCY and GUNICORN_THREADS override them (not REBOT_* names: rebot refuses
REBOT_* variables it does not know)."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")  # nginx (TLS) in front
# Sync workers with a few threads: a command waits on the database, rarely on the CPU. Each worker is
# a process with its own connection pool (pool_size 5 + overflow 10 on PostgreSQL): keep
# workers × 15 × hosts (+ schedulers and push workers) under PostgreSQL's max_connections.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = 30  # WeChat gives up after 5 s; a stuck worker is restarted after this
graceful_timeout = 10
keepalive = 5
max_requests = 5000  # recycle workers now and then (memory)
max_requests_jitter = 500
accesslog = None  # nginx logs requests; rebot logs what matters, without message texts
errorlog = "-"
