"""Persistent analysis jobs: the store, file storage, the runner, the local pool, webhooks.

Flask-free and broker-free: ``runner.run_job(check_id)`` is the one job function;
the in-process ``pool`` (and, later, a Celery task) only decide where it runs.

    store.py     SQLAlchemy models and every query (tenants, API keys, checks, deliveries)
    storage.py   uploaded videos and derived files, written atomically
    runner.py    run_job(id): load the row, analyse (or reuse a result), store it
    pool.py      the in-process pool: claims queued jobs, one child process per analysis
    webhooks.py  signed callbacks, retried with backoff, every attempt recorded
    settings.py  the service's settings, declared once
"""
