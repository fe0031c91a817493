"""HTTP routers of the scoring service; `service.app.create_app` assembles them."""
