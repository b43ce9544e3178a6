"""``nmt serve``: translations over HTTP, a JSON API and a page showing the attention.

``server.serve`` loads and warms up the model, then runs uvicorn on ``app.create_app``;
``batcher`` gathers concurrent requests into batches for the compiled search;
``schema`` holds what requests and responses look like, and ``limits`` their bounds.
"""
