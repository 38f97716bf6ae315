"""Exchanges through ccxt: the client, the broker, its calls, orders and fills, the feed."""
