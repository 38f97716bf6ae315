"""Notifications and chat control: webhook and Telegram sinks fed from the daemon's log events,
and `/status`, `/positions`, `/halt`, `/flatten` (`/resume`) from a Telegram chat.

`notifier` (the tap, the task, `running()`, `build`), `message` (what is sent), `outbox`
(bounded, drops only informational messages), `delivery` (per sink: grouping, rate, retries),
`sinks` (the HTTP wire formats), `chat` (commands), `summary` and `chart` (the daily summary),
`secrets` (token, chat id, HMAC keys). Sits beside the control API: it drives the supervisor,
and nothing below it knows it exists.
"""
