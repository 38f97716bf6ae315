"""The services the notifier talks to, faked at their wire protocol on loopback: a Telegram Bot
API (`/bot<token>/sendMessage`, `sendPhoto`, `getUpdates`) and webhook receivers
(`POST /hook/<name>`), one aiohttp server on its own loop in a thread.

The daemon's real client code talks to it over HTTP, as to the real services. Each sink can be
told how to misbehave (`set_mode`): "ok", "hang" (answers after 30 s), "500", "429" (with
`retry_after`), "echo" (an error that quotes the bot token back, as a careless API would), or
"fail_then_ok:N" (the first N requests fail with 500). Everything received is kept, in order,
with the time it arrived; `send_update` queues a chat message for `getUpdates`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from aiohttp import web

HANG_S = 30.0
TELEGRAM = "telegram"


@dataclass
class Received:
    sink: str  # "telegram" or the webhook's name
    method: str  # the Bot API method, or "POST" for a webhook
    body: bytes
    headers: dict[str, str]
    fields: dict[str, Any] = field(default_factory=dict)  # JSON body or form fields
    photo: bytes | None = None
    at: float = 0.0  # time.monotonic() on arrival


class ChatServices:
    def __init__(self, token: str) -> None:
        self.token = token
        self.received: list[Received] = []  # delivered (answered 2xx) requests only
        self.attempts: list[Received] = []  # every request, answered or not
        self._modes: dict[str, str] = {}
        self._failures: dict[str, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="chat-services", daemon=True)
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._new_update: asyncio.Event | None = None
        self.port = 0

    # --- the test's side ----------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hook_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def set_mode(self, sink: str, mode: str) -> None:
        with self._lock:
            self._modes[sink] = mode
            self._failures[sink] = 0

    def delivered(self, sink: str, event: str | None = None) -> list[Received]:
        with self._lock:
            out = [r for r in self.received if r.sink == sink]
        return [r for r in out if event is None or event_of(r) == event]

    def send_update(self, text: str, chat_id: int, user_id: int,
                    username: str = "operator") -> None:
        def add() -> None:
            with self._lock:
                self._updates.append({"update_id": self._next_update, "message": {
                    "message_id": self._next_update, "date": int(time.time()), "text": text,
                    "chat": {"id": chat_id, "type": "private"},
                    "from": {"id": user_id, "is_bot": False, "username": username}}})
                self._next_update += 1
            assert self._new_update is not None
            self._new_update.set()
        self._loop.call_soon_threadsafe(add)

    def updates_taken(self) -> int:
        """How many updates a `getUpdates` offset has confirmed (the poller moved past)."""
        with self._lock:
            return self._next_update - 1 - len(self._updates)

    # --- the server ---------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._new_update = asyncio.Event()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._bot)
        app.router.add_post("/hook/{name}", self._hook)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._close())
        self._loop.close()

    async def _close(self) -> None:
        """Stop listening, and end the handlers still hanging (a "hang" mode's 30 s)."""
        assert self._runner is not None
        await self._runner.cleanup()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _misbehave(self, sink: str) -> web.Response | None:
        with self._lock:
            mode = self._modes.get(sink, "ok")
            if mode.startswith("fail_then_ok:"):
                self._failures[sink] += 1
                mode = "500" if self._failures[sink] <= int(mode.split(":")[1]) else "ok"
        if mode == "hang":
            await asyncio.sleep(HANG_S)
        if mode in ("hang", "500"):
            return web.json_response({"ok": False, "error_code": 500,
                                      "description": "Internal Server Error"}, status=500)
        if mode == "429":
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429,
                                     headers={"Retry-After": "1"})
        if mode == "echo":
            return web.json_response({"ok": False, "error_code": 401, "description":
                                      f"Unauthorized: bot{self.token} is not a valid token "
                                      f"({self.token}; key {HMAC_KEY})"}, status=401)
        return None

    async def _record(self, request: web.Request, sink: str, method: str) -> Received:
        body = await request.read()
        got = Received(sink, method, body, dict(request.headers), at=time.monotonic())
        if request.content_type == "application/json" and body:
            got.fields = json.loads(body)
        elif request.content_type.startswith("multipart/"):
            head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
            form = BytesParser(policy=policy.default).parsebytes(head + body)
            for part in form.iter_parts():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True)
                if name == "photo":
                    got.photo = data
                else:
                    got.fields[str(name)] = data.decode()
        with self._lock:
            self.attempts.append(got)
        return got

    async def _bot(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        got = await self._record(request, TELEGRAM, method)
        if method == "getUpdates":
            return await self._get_updates(got.fields)
        if (bad := await self._misbehave(TELEGRAM)) is not None:
            return bad
        with self._lock:
            self.received.append(got)
        return web.json_response({"ok": True, "result": {"message_id": len(self.received)}})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset", 0))
        with self._lock:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        assert self._new_update is not None
        if not self._updates:
            self._new_update.clear()
            try:
                async with asyncio.timeout(float(params.get("timeout", 0))):
                    await self._new_update.wait()
            except TimeoutError:
                pass
        with self._lock:
            return web.json_response({"ok": True, "result": list(self._updates)})

    async def _hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        got = await self._record(request, name, "POST")
        if (bad := await self._misbehave(name)) is not None:
            return bad
        with self._lock:
            self.received.append(got)
        return web.Response(status=204)

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> ChatServices:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("chat services did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def event_of(r: Received) -> str | None:
    """The event a delivery reports: the JSON `event` of a webhook, or for Telegram the
    message text's event (the notifier's texts are recognisable by their first words)."""
    if r.sink != TELEGRAM:
        return r.fields.get("event")
    text = str(r.fields.get("text") or r.fields.get("caption") or "")
    for prefix, event in TEXT_PREFIXES:
        if prefix in text:
            return event
    return None


TEXT_PREFIXES = (("filled: ", "order.filled"), (" fills:", "order.filled"),
                 ("order rejected", "order.rejected"), ("trading HALTED", "trading.halted"),
                 ("trading resumed", "trading.resumed"), ("flatten started", "flatten.started"),
                 ("flatten done", "flatten.done"), ("flatten INCOMPLETE", "flatten.incomplete"),
                 ("daemon started", "daemon.started"), ("daemon stopped", "shutdown.complete"),
                 ("daemon CRASHED", "task.crashed"), ("market data stale", "market_data.stale"),
                 ("daily summary", "summary.daily"))


TOKEN = "7411:AAbotTOKENforTESTSonly_x9Q"  # the shape of a real one: <bot id>:<secret>
CHAT_ID = 424242
USER_ID = 515151
HMAC_KEY = "hmac-key-for-the-a-hook"


def notify_section(services: ChatServices, hooks: tuple[str, ...] = ("a",),
                   telegram: str = "", notify: str = "") -> str:
    """`[notify]` for a test: webhooks named `hooks` (the first signed with HOOK_SECRET,
    HMAC_KEY), Telegram on the fake API with CHAT_ID and USER_ID allowed; `telegram` and
    `notify` add keys to those tables. Quick timings: sends time out after 0.5 s, retries wait
    at most 0.2 s, fills are grouped over 0.2 s, the flush gets 2 s."""
    keys = {"send_timeout_s": "0.5", "retry_max_s": "0.2", "group_fills_s": "0.2",
            "shutdown_flush_s": "2"}
    keys.update(line.split(" = ", 1) for line in notify.splitlines() if line.strip())
    text = "[notify]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
    for n, name in enumerate(hooks):
        secret = 'secret_credential = "HOOK_SECRET"\n' if n == 0 else ""
        text += f'[[notify.webhook]]\nurl = "{services.hook_url(name)}"\n{secret}'
    text += (f'[notify.telegram]\napi_url = "{services.api_url}"\nchat_id = "{CHAT_ID}"\n'
             f"allowed_user_ids = [{USER_ID}]\npoll_timeout_s = 2\n{telegram}\n")
    return text


def notify_env() -> dict[str, str]:
    return {"TRADINGD_TELEGRAM_TOKEN": TOKEN, "HOOK_SECRET": HMAC_KEY}
