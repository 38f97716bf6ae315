"""The daemon's long-lived tasks. Each module has one `async def run(...)`; `app` wires them."""
