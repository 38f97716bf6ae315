"""The books: the inventory manager (the only writer of positions, cash, orders, PnL) and lots."""
