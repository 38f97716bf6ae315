"""Venues: broker and market-data protocols; paper, sim and replay; ccxt/ for exchanges."""
