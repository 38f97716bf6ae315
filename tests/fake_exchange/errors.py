"""Binance-shaped errors: the one exception type the fake raises, and the bodies Binance sends.

Every rejection inside the fake (auth, filters, balances, unknown orders) is a `BinanceError`
carrying Binance's numeric code, its exact message and the HTTP status Binance answers with,
so the HTTP and ws layers can render it without knowing why it happened. Messages are
copied from Binance because ccxt maps some errors by message text before it looks at codes
(e.g. "Account has insufficient balance ..." -> InsufficientFunds, "LOT_SIZE" -> InvalidOrder).
"""

from __future__ import annotations

import json


class BinanceError(Exception):
    """An error Binance would return as `{"code": <code>, "msg": <msg>}` with `status`."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}

    def json(self) -> str:
        return json.dumps(self.body(), separators=(",", ":"))


# Constructors for the errors that more than one module raises; the text is Binance's.
def unknown_endpoint(path: str) -> BinanceError:
    # Binance itself answers an unknown path with an HTML 404; a JSON -1000 is friendlier to
    # ccxt (it becomes OperationFailed instead of a parse failure) and is easy to assert on.
    return BinanceError(-1000, f"Fake exchange does not implement {path}", status=404)


def mandatory(param: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed."
    )


def illegal(param: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{param}'.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def insufficient_balance() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def duplicate_order() -> BinanceError:
    return BinanceError(-2010, "Duplicate order sent.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


def unknown_order_cancel() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def order_does_not_exist() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")
