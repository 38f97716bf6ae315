"""Paper swaps through `tradingd backtest`'s path (`research.backtest.run`: the daemon's real
replay, paper broker, market walk and books): a leveraged long that the market takes to its
maintenance margin is liquidated at its bankruptcy price, funding is booked at the configured
interval and rate, and the report shows both. Every expected figure is worked out here, by hand
from the data, with none of the daemon's code."""

from __future__ import annotations

import csv
import json
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import numpy as np
import pytest

from daemon import config
from daemon.research import backtest
from daemon.research.report import iso
from daemon.venues.replay import DEFAULT_BATCH_TICKS
from daemon.venues.replay_files import Recorded
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load

SYMBOL = "BTC/USDT:USDT"
T0_NS = 1_704_067_200 * 10**9  # 2024-01-01 00:00:00 UTC: a funding settlement time
HOUR_NS = 3600 * 10**9
CASH, QTY, LEVERAGE, MMR, RATE = (Decimal(10000), Decimal("0.5"), 5, Decimal("0.005"),
                                  Decimal("0.0001"))

CONFIG = f"""
[daemon]
mode = "paper"
state_dir = "state"
log_level = "warning"

[market]
source = "sim"

[[market.instruments]]
symbol = "{SYMBOL}"
leverage = {LEVERAGE}
margin_mode = "isolated"
price_increment = "0.1"
size_increment = "0.001"
min_qty = "0.001"
max_qty = "1000"
min_notional = "100"

[paper]
starting_cash = "{CASH}"
fill_model = "touch"
fee_bps = 5.0
slippage_bps = 0.0
maintenance_margin_rate = "{MMR}"
funding_interval_s = 3600
funding_rate = "{RATE}"

[strategy]
class = "tests.support.strategies:BuyOnce"

[strategy.params]
symbol = "{SYMBOL}"
qty = "{QTY}"
bar_interval_s = 60

[risk]
max_order_notional = "1000000"
max_position_notional = "1000000"
max_gross_exposure = "1000000"
max_leverage = "{LEVERAGE}"
stale_data_s = 3600
max_daily_loss = "1000000"
max_drawdown_pct = 99

[metrics]
listen = "127.0.0.1:0"
"""


def falling_market() -> Recorded:
    """A trade a second: 60,000 for ten minutes, then down 5,000 an hour to 45,000."""
    seconds = np.arange(0, 3 * 3600 + 600, dtype=np.int64)
    price = np.where(seconds < 600, 60000.0, 60000.0 - (seconds - 600) * (5000.0 / 3600))
    price = np.round(price, 1)
    return Recorded("trades", T0_NS + 500_000_000 + seconds * 10**9, price,
                    np.full(len(seconds), 0.01), len(seconds))


def run(tmp_path: Path, text: str, data: Recorded, batch_ticks: int = DEFAULT_BATCH_TICKS
        ) -> tuple[backtest.Result, dict, Path]:
    cfg = config.parse(text, str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))
    out = tmp_path / "report"
    result = backtest.run(cfg, strategy, data, SYMBOL, out, batch_ticks)
    return result, json.loads((out / "metrics.json").read_text()), out


def dec(price: float) -> Decimal:
    return Decimal(repr(float(price)))


def test_leveraged_replay_hitting_maintenance_margin_is_liquidated_and_reported(
        tmp_path: Path) -> None:
    """Steps: buy 0.5 BTC at 60,000 on 5x isolated (margin 6,000); the market falls 5,000 an
    hour; funding settles on the hour at 0.01% of the notional at the first trade of the hour;
    at the first trade at or under the liquidation price (where margin + PnL = 0.5% of the
    notional) the position is closed at the bankruptcy price (48,000: the margin is gone).
    The books, the report's metrics.json, liquidations.csv and equity all say so."""
    data = falling_market()
    result, figs, out = run(tmp_path, CONFIG, data)
    assert result.exit_code == 0
    inv = result.daemon.inventory
    fills = [f for f in json_rows(out / "fills.csv")]
    assert len(fills) == 2
    entry = Decimal(fills[0]["price"])
    assert entry == Decimal(60000) and Decimal(fills[0]["fee"]) == QTY * entry * 5 / 10_000

    # By hand: isolated margin, liquidation and bankruptcy prices of a long.
    margin = QTY * entry / LEVERAGE  # 6,000
    liq = (QTY * entry - margin) / (QTY * (1 - MMR))  # 24,000 / 0.4975
    bankrupt = entry - margin / QTY  # 48,000
    prices = [dec(p) for p in data.price]
    hit = next(i for i, p in enumerate(prices) if p <= liq)
    assert 2 * HOUR_NS < int(data.ts_ns[hit]) - T0_NS < 3 * HOUR_NS  # after two settlements

    # Funding: every hour the position is open, on the first trade at or after the hour.
    entry_ns = int(data.ts_ns[0]) + 60 * 10**9  # the first 1-minute bar's close
    expected_funding = []
    for hour in (1, 2):
        due = T0_NS + hour * HOUR_NS
        first = next(i for i, t in enumerate(data.ts_ns) if t >= due)
        assert entry_ns < due < int(data.ts_ns[hit])
        expected_funding.append((-QTY * prices[first] * RATE).quantize(Decimal("1e-8"),
                                                                        ROUND_FLOOR))
    assert inv.funding == sum(expected_funding) < 0
    assert figs["funding"] == float(sum(expected_funding))
    assert figs["funding_paid"] == float(-sum(expected_funding))
    assert figs["funding_received"] == 0.0

    close = fills[1]
    assert close["client_order_id"].startswith("autoclose-") and close["side"] == "sell"
    assert Decimal(close["qty"]) == QTY and Decimal(close["price"]) == bankrupt
    assert Decimal(close["fee"]) == 0
    assert close["time"] == iso(int(data.ts_ns[hit]))

    loss = QTY * (bankrupt - entry)
    assert loss == -margin
    [reported] = figs["liquidations"]
    assert reported["time"] == iso(int(data.ts_ns[hit])) and reported["position"] == "long"
    assert Decimal(reported["loss"]) == loss
    assert Decimal(reported["fill_price"]) == bankrupt
    assert Decimal(reported["trigger_price"]) == prices[hit]
    assert abs(Decimal(reported["liquidation_price"]) - liq) < Decimal("1e-20")
    with (out / "liquidations.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows == [reported]

    fee = QTY * entry * 5 / 10_000
    assert inv.is_flat() and inv.realized_pnl == loss
    assert inv.equity() == CASH - fee + loss + sum(expected_funding)
    assert figs["final_equity"] == float(inv.equity())
    with (out / "equity.csv").open() as f:
        assert Decimal(list(csv.reader(f))[-1][1]) == inv.equity()


def test_funding_is_booked_at_the_configured_interval_and_rate(tmp_path: Path) -> None:
    """Steps: a 0.4 BTC long on 3x (no liquidation in reach), funding every 30 minutes at
    -0.02% under the venue's convention (`funding_always_paid = false`: a negative rate, longs
    receive); each settlement is booked once, as a FundingPaid with its own id, and equals
    -position x price x rate at the first trade at or after its time."""
    qty = Decimal("0.4")
    text = (CONFIG.replace(f"leverage = {LEVERAGE}\n", "leverage = 3\n")
            .replace(f'qty = "{QTY}"', f'qty = "{qty}"')
            .replace("funding_interval_s = 3600", "funding_interval_s = 1800")
            .replace(f'funding_rate = "{RATE}"',
                     'funding_rate = "-0.0002"\nfunding_always_paid = false'))
    data = falling_market()
    result, figs, _ = run(tmp_path, text, data)
    assert result.exit_code == 0 and not figs["liquidations"]
    inv = result.daemon.inventory
    assert inv.fill_count == 2  # the buy, and the shutdown's flatten after the last trade
    entry_ns = int(data.ts_ns[0]) + 60 * 10**9
    dues = [T0_NS + k * 1800 * 10**9 for k in range(1, 7)]
    expected = []
    for due in dues:
        first = next(i for i, t in enumerate(data.ts_ns) if t >= due)
        assert due > entry_ns
        expected.append((-qty * dec(data.price[first]) * Decimal("-0.0002")).quantize(
            Decimal("1e-8"), ROUND_FLOOR))
    assert int(data.ts_ns[-1]) < T0_NS + 7 * 1800 * 10**9  # six settlements, no more
    margin = result.daemon.broker.margin
    assert [(p.ts_ns, p.amount) for p in margin.funding] == list(zip(dues, expected, strict=True))
    assert len({p.funding_id for p in margin.funding}) == 6
    assert inv.funding == sum(expected) > 0
    assert figs["funding_received"] == pytest.approx(float(sum(expected)), abs=1e-9)


def test_recorded_funding_rates_settle_at_their_times_with_their_signs(
        tmp_path: Path) -> None:
    """Steps: `paper.funding_rates` names a CSV in Binance's column names (fundingTime in ms,
    fundingRate): +0.03% at 00:40, -0.02% at 01:40, and one after the data ends; the 0.4 BTC
    long on 3x pays the first, receives the second, and never sees the third."""
    (tmp_path / "rates.csv").write_text(
        "symbol,fundingTime,fundingRate\n"
        f"BTCUSDT,{T0_NS // 10**6 + 40 * 60_000},0.0003\n"
        f"BTCUSDT,{T0_NS // 10**6 + 100 * 60_000},-0.0002\n"
        f"BTCUSDT,{T0_NS // 10**6 + 5 * 3_600_000},0.0005\n")
    qty = Decimal("0.4")
    text = (CONFIG.replace(f"leverage = {LEVERAGE}\n", "leverage = 3\n")
            .replace(f'qty = "{QTY}"', f'qty = "{qty}"')
            .replace("funding_interval_s = 3600", 'funding_rates = "rates.csv"'))
    data = falling_market()
    result, figs, _ = run(tmp_path, text, data)
    expected = []
    for minutes, rate in ((40, Decimal("0.0003")), (100, Decimal("-0.0002"))):
        due = T0_NS + minutes * 60 * 10**9
        first = next(i for i, t in enumerate(data.ts_ns) if t >= due)
        expected.append((due, (-qty * dec(data.price[first]) * rate).quantize(
            Decimal("1e-8"), ROUND_FLOOR)))
    margin = result.daemon.broker.margin
    assert [(p.ts_ns, p.amount) for p in margin.funding] == expected
    assert expected[0][1] < 0 < expected[1][1]
    assert result.daemon.inventory.funding == expected[0][1] + expected[1][1]
    assert figs["funding_paid"] == float(-expected[0][1])
    assert figs["funding_received"] == float(expected[1][1])


def test_funding_and_liquidation_are_the_same_trade_by_trade_as_in_batches(
        tmp_path: Path) -> None:
    """Steps: the liquidation scenario replayed in one batch of 5,000 ticks and trade by trade:
    the same fills (the liquidation's included), the same funding, the same equity."""
    data = falling_market()
    batched, _, out_b = run(tmp_path / "b", CONFIG, data)
    one, _, out_1 = run(tmp_path / "one", CONFIG, data, batch_ticks=1)
    for name in ("fills.csv", "liquidations.csv", "equity.csv"):
        assert (out_b / name).read_text() == (out_1 / name).read_text(), name
    assert batched.daemon.broker.margin.funding == one.daemon.broker.margin.funding
    assert batched.daemon.inventory.equity() == one.daemon.inventory.equity()


def json_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))
