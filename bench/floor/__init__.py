"""The floor of the report-storm benchmark: the cheapest Django view that stores a report.

A minimal Django project on the same database and the same gunicorn configuration as
HISGuard. One view inserts one row into the table ``bench_floor`` inside a transaction and
answers 201 with JSON: no middleware, no authentication, no correlation. Whatever HISGuard
spends above this is the cost of its own report path.
"""
