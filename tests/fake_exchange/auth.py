"""Binance request authentication: API key, HMAC-SHA256 signature, timestamp/recvWindow.

REST (SIGNED): the signature is HMAC-SHA256(secret, totalParams) where totalParams is the
query string followed directly by the request body, both exactly as sent and without the
`signature` parameter. The raw text is used, never a re-encoding of parsed params, so an
encoding mismatch between client and server shows up here as -1022 just as it would live.

WS-API (`userDataStream.subscribe.signature` etc.): the payload is the request params minus
`signature`, sorted by key and joined as `k=v&...`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

from .errors import BinanceError, mandatory

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000

# Made-up, test-only credentials (64 alphanumerics, the shape of a real Binance key).
FAKE_API_KEY = "fakeBinanceApiKey".ljust(64, "0")
FAKE_API_SECRET = "fakeBinanceApiSecret".ljust(64, "0")


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """`raw` without its `signature=` part (kept byte-exact otherwise), and that signature."""
    if not raw:
        return "", None
    kept, sig = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            sig = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), sig


class Auth:
    def __init__(self, api_key: str, api_secret: str, clock: Callable[[], int]) -> None:
        self.api_key, self.api_secret, self.clock = api_key, api_secret, clock

    def check_api_key(self, key: str | None) -> None:
        if not key or not key.isalnum():
            raise BinanceError(-2014, "API-key format invalid.", status=401)
        if key != self.api_key:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    def check_timestamp(self, params: Mapping[str, str]) -> None:
        ts_text = params.get("timestamp")
        if not ts_text:
            raise mandatory("timestamp")
        try:
            ts = int(ts_text)
            window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
        except ValueError as exc:
            raise BinanceError(-1100, "Illegal characters found in a parameter.") from exc
        if window > MAX_RECV_WINDOW:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now = self.clock()
        if ts >= now + 1000:
            raise BinanceError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")

    def verify_rest(self, key: str | None, raw_query: str, raw_body: str,
                    params: Mapping[str, str]) -> None:
        self.check_api_key(key)
        query, qsig = _strip_signature(raw_query)
        body, bsig = _strip_signature(raw_body)
        signature = qsig or bsig
        if not signature:
            raise mandatory("signature")
        if not hmac.compare_digest(signature, sign(self.api_secret, query + body)):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        self.check_timestamp(params)

    def verify_ws(self, params: Mapping[str, object]) -> None:
        key = params.get("apiKey")
        self.check_api_key(key if isinstance(key, str) else None)
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise mandatory("signature")
        payload = "&".join(f"{k}={ws_value(v)}" for k, v in sorted(params.items())
                           if k != "signature")
        if not hmac.compare_digest(signature, sign(self.api_secret, payload)):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        self.check_timestamp({k: str(v) for k, v in params.items()})


def ws_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
