"""Persistent analysis jobs: the store, file storage, the runner, the Celery tasks, webhooks.

``runner.run_job(check_id)`` is the one job function, Flask-free and broker-free;
``tasks.run_check`` (Celery, in both modes: an SQLite broker in DATA_DIR by default,
Redis when scaled out) only decides where it runs.

    tables.py    the SQLAlchemy models: tenants, API keys, checks, webhook deliveries
    store.py     every query over them (the Store); migrations/ their schema history
    storage.py   uploaded videos and derived files, written atomically
    runner.py    run_job(id): load the row, analyze (or reuse a result), store it
    tasks.py     the Celery app, tasks, exactly-once execution, recovery of lost jobs
    webhooks.py  signed callbacks, retried with backoff, every attempt recorded
    settings.py  the service's settings, typed and declared once
"""
