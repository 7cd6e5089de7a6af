"""Browser tests: the staff web UI served by a real WSGI server and driven in Chromium."""
