"""The columnar shaping of the dataset facts gives exactly what the per-record shaping
gave (kept here as the reference), on every demo date and Odoo version."""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from nkdash.dates import day_start
from nkdash.etl import session
from nkdash.etl.datasets import inventory, invoices, pos, profit, purchases, stock_quants
from nkdash.etl.datasets.base import Context, Dataset, Source, latest, signed, to_table
from nkdash.lake import Lake
from nkdash.odoo import format_datetime
from tests.support.demo import DATES


@pytest.fixture
def demo_ctx(loaded_lake, version) -> Iterator[Context]:
    """A run context on the session's demo Odoo of ``version`` and its loaded lake."""
    with session(loaded_lake(version), dates=DATES) as context:
        yield context


# ----------------------------------------------------------------------------- the per-record reference
def read_day(ctx: Context, header: Source, lines: Source, day: dt.date) -> tuple[dict[int, dict], list[dict]]:
    headers = {rec["id"]: rec for rec in ctx.read(header, ctx.day_domain(header, day))}
    if not headers:
        return headers, []
    return headers, list(ctx.read(lines, [(lines.parent, "in", sorted(headers))]))


def pos_rows(day: dt.date, orders: dict[int, dict], lines: list[dict]) -> Iterator[dict[str, Any]]:
    for line in lines:
        order = orders[line["order_id"]]
        yield {
            "date": day,
            "line_id": line["id"],
            "order_id": order["id"],
            "order_ref": order["name"],
            "pos_reference": order["pos_reference"],
            "store_id": order["config_id"],
            "session_id": order["session_id"],
            "partner_id": order["partner_id"],
            "product_id": line["product_id"],
            "qty": line["qty"],
            "price_unit": line["price_unit"],
            "discount": line["discount"],
            "price_subtotal": line["price_subtotal"],
            "price_subtotal_incl": line["price_subtotal_incl"],
            "total_cost": line["total_cost"],
            "is_total_cost_computed": line["is_total_cost_computed"],
            "refunded_line_id": line["refunded_orderline_id"],
            "order_state": order["state"],
            "date_order": order["date_order"],
            "write_date": latest(order["write_date"], line["write_date"]),
        }


def invoice_rows(day: dt.date, moves: dict[int, dict], lines: list[dict]) -> Iterator[dict[str, Any]]:
    for line in lines:
        move = moves[line["move_id"]]
        yield {
            "date": day,
            "line_id": line["id"],
            "move_id": move["id"],
            "move_ref": move["name"],
            "move_type": move["move_type"],
            "partner_id": move["partner_id"],
            "product_id": line["product_id"],
            "quantity": line["quantity"],
            "price_unit": line["price_unit"],
            "discount": line["discount"],
            "price_subtotal": line["price_subtotal"],
            "balance": line["balance"],
            "write_date": latest(move["write_date"], line["write_date"]),
        }


def purchase_rows(day: dt.date, orders: dict[int, dict], lines: list[dict]) -> Iterator[dict[str, Any]]:
    for line in lines:
        order = orders[line["order_id"]]
        yield {
            "date": day,
            "line_id": line["id"],
            "order_id": order["id"],
            "order_ref": order["name"],
            "partner_id": order["partner_id"],
            "picking_type_id": order["picking_type_id"],
            "product_id": line["product_id"],
            "product_qty": line["product_qty"],
            "qty_received": line["qty_received"],
            "qty_invoiced": line["qty_invoiced"],
            "price_unit": line["price_unit"],
            "price_subtotal": line["price_subtotal"],
            "price_total": line["price_total"],
            "state": order["state"],
            "date_approve": order["date_approve"],
            "write_date": latest(order["write_date"], line["write_date"]),
            "date_planned": line["date_planned"],
            "date_received": order["effective_date"],
        }


def inventory_rows(ctx: Context, day: dt.date, moves: list[dict]) -> Iterator[dict[str, Any]]:
    usage = ctx.lookup("dim_location", "usage")
    scrap = ctx.lookup("dim_location", "scrap_location")
    qty_field = ctx.profile.move_qty_field
    for move in moves:
        src, dest = move["location_id"], move["location_dest_id"]
        yield {
            "date": day,
            "move_id": move["id"],
            "reference": move["reference"],
            "product_id": move["product_id"],
            "location_id": src,
            "location_dest_id": dest,
            "src_usage": usage.get(src),
            "dest_usage": usage.get(dest),
            "kind": inventory.move_kind(usage.get(src), usage.get(dest), bool(scrap.get(dest))),
            "qty": move[qty_field],
            "product_uom_qty": move["product_uom_qty"],
            "price_unit": move["price_unit"],
            "picking_type_id": move["picking_type_id"],
            "date_done": move["date"],
            "write_date": move["write_date"],
        }


def stock_rows(ctx: Context, day: dt.date) -> Iterator[dict[str, Any]]:
    levels: dict = defaultdict(float)
    for quant in ctx.read(stock_quants.QUANTS, []):
        levels[quant["product_id"], quant["location_id"]] += quant["quantity"]
    since = day_start(min(ctx.dates) + dt.timedelta(days=1), ctx.tz)
    qty = ctx.profile.move_qty_field
    moves = ctx.read(stock_quants.MOVES, [("date", ">=", format_datetime(since))])
    usage = ctx.lookup("dim_location", "usage")
    end = day_start(day + dt.timedelta(days=1), ctx.tz)
    for m in moves:
        if m["date"] < end:
            continue
        if usage.get(m["location_dest_id"]) == "internal":
            levels[m["product_id"], m["location_dest_id"]] -= m[qty]
        if usage.get(m["location_id"]) == "internal":
            levels[m["product_id"], m["location_id"]] += m[qty]
    warehouse = ctx.lookup("dim_location", "warehouse_id")
    for (product, location), quantity in sorted(levels.items()):
        quantity = round(quantity, 6)
        if quantity:
            yield {
                "date": day,
                "product_id": product,
                "location_id": location,
                "warehouse_id": warehouse.get(location),
                "quantity": quantity,
            }


def sale(
    day: dt.date,
    channel: str,
    line_id: int,
    order_ref: str,
    store_id: int | None,
    partner_id: int | None,
    product_id: int | None,
    category_id: int | None,
    qty: float,
    revenue: float,
    cost: float,
    cost_source: str,
    local_hour: int | None,
    discount: float,
) -> dict[str, Any]:
    return {
        "date": day,
        "channel": channel,
        "source_line_id": line_id,
        "order_ref": order_ref,
        "store_id": store_id,
        "partner_id": partner_id,
        "product_id": product_id,
        "category_id": category_id,
        "qty": qty,
        "revenue": revenue,
        "cost": cost,
        "margin": revenue - cost,
        "cost_source": cost_source,
        "local_hour": local_hour,
        "discount": discount,
    }


def discount(revenue: float, qty: float, price_unit: float | None, percent: float | None) -> float:
    """What a line's discount took off: revenue x d / (100 - d); qty x price at 100 %."""
    d = percent or 0.0
    if d <= 0:
        return 0.0
    return qty * (price_unit or 0.0) if d >= 100 else revenue * d / (100 - d)


def standard_price(ctx: Context, product_id: int) -> float:
    price = ctx.lookup("dim_product", "standard_price")
    if product_id not in price:
        raise profit.MissingProduct(product_id)
    return price[product_id] or 0.0


def pos_sales(ctx: Context, day: dt.date, lines: list[dict]) -> Iterator[dict[str, Any]]:
    category = ctx.lookup("dim_product", "category_id")
    for line in lines:
        product, qty = line["product_id"], line["qty"]
        if line["is_total_cost_computed"]:
            cost, source = signed(line["total_cost"], qty), "pos_total_cost"
        else:
            cost, source = qty * standard_price(ctx, product), "standard_price"
        yield sale(
            day,
            "pos",
            line["line_id"],
            line["order_ref"],
            line["store_id"],
            line["partner_id"],
            product,
            category.get(product),
            qty,
            signed(line["price_subtotal"], qty),
            cost,
            source,
            line["date_order"].astimezone(ctx.tz).hour,
            discount(signed(line["price_subtotal"], qty), qty, line["price_unit"], line["discount"]),
        )


def invoice_sales(ctx: Context, day: dt.date, rows: list[dict]) -> Iterator[dict[str, Any]]:
    category = ctx.lookup("dim_product", "category_id")
    products = {r["product_id"] for r in rows} - {None}
    layers = profit.layer_costs(ctx, day, products) if ctx.profile.has_valuation_layer else {}
    for line in rows:
        product = line["product_id"]
        qty = -line["quantity"] if line["move_type"] == "out_refund" else line["quantity"]
        if product is None:
            unit, source = 0.0, "none"
        elif product in layers:
            unit, source = layers[product], "valuation_layer"
        else:
            unit, source = standard_price(ctx, product), "standard_price"
        yield sale(
            day,
            "invoice",
            line["line_id"],
            line["move_ref"],
            None,
            line["partner_id"],
            product,
            category.get(product),
            qty,
            -line["balance"],
            qty * unit,
            source,
            None,
            discount(-line["balance"], qty, line["price_unit"], line["discount"]),
        )


def profit_tables(ctx: Context, day: dt.date) -> dict[str, pa.Table]:
    pos_lines = ctx.lake.read_partition(pos.TABLE.name, day).to_pylist()
    invoice_lines = ctx.lake.read_partition(invoices.TABLE.name, day).to_pylist()
    sales = to_table([*pos_sales(ctx, day, pos_lines), *invoice_sales(ctx, day, invoice_lines)], profit.SALES_SCHEMA)
    return {profit.SALES.name: sales, **profit.aggregates(sales)}


# ----------------------------------------------------------------------------- columnar == reference
@pytest.mark.parametrize("day", DATES, ids=str)
def test_header_line_facts_equal_the_per_record_shaping(demo_ctx, day):
    for module, header, reference in (
        (pos, pos.ORDERS, pos_rows),
        (invoices, invoices.MOVES, invoice_rows),
        (purchases, purchases.ORDERS, purchase_rows),
    ):
        lines = module.LINES
        expected = to_table(reference(day, *read_day(demo_ctx, header, lines, day)), module.SCHEMA)
        got = module.extract(demo_ctx, day)[module.TABLE.name]
        assert got.equals(expected), module.__name__
        assert got.num_rows == expected.num_rows


@pytest.mark.parametrize("day", DATES, ids=str)
def test_profit_tables_equal_the_per_row_shaping_file_for_file(demo_ctx, day, tmp_path):
    """Same values, same order, same bits (``-0.0`` too): the same lake file, named by its sha256."""
    expected, got = profit_tables(demo_ctx, day), profit.extract(demo_ctx, day)
    assert list(got) == list(expected)
    for name, table in expected.items():
        assert_same_file(tmp_path, name, day, got[name], table)


def assert_same_file(tmp_path, name: str, day: dt.date, got: pa.Table, expected: pa.Table) -> None:
    assert got.equals(expected), name
    want = Lake(tmp_path / "expected").write_partition(name, day, expected).checksum
    assert Lake(tmp_path / "got").write_partition(name, day, got).checksum == want, name


def altered(table: pa.Table, **columns: list) -> pa.Table:
    for name, values in columns.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pa.array(values, table.schema.field(name).type))
    return table


def in_chunks(table: pa.Table) -> pa.Table:
    """The same rows in three chunks (as a lake file of several row groups reads)."""
    third = table.num_rows // 3
    return pa.concat_tables([table.slice(0, third), table.slice(third, third), table.slice(2 * third)])


def every(n: int, values: list, value: Any) -> list:
    return [value if i % n == 0 else v for i, v in enumerate(values)]


@pytest.mark.parametrize("day", DATES[:1], ids=str)
def test_profit_rules_equal_the_per_row_shaping_on_every_branch(demo_ctx, day, tmp_path):
    """Uncomputed POS costs, zero and negative quantities with zero or signed amounts,
    refunds, lines without product, unset standard prices: the same bits as per row."""
    lines = demo_ctx.lake.read_partition(pos.TABLE.name, day)
    qty, subtotal = lines["qty"].to_pylist(), lines["price_subtotal"].to_pylist()
    lines = altered(
        lines,
        is_total_cost_computed=every(3, lines["is_total_cost_computed"].to_pylist(), False),
        qty=every(5, every(7, qty, -2.0), 0.0),
        price_subtotal=every(4, every(11, subtotal, -0.0), 0.0),
        total_cost=every(6, lines["total_cost"].to_pylist(), 0.0),
    )
    assert lines.num_rows > 20
    expected = to_table(pos_sales(demo_ctx, day, lines.to_pylist()), profit.SALES_SCHEMA)
    assert_same_file(tmp_path / "pos", "fact_sales", day, profit.pos_table(demo_ctx, day, in_chunks(lines)), expected)
    assert set(expected["cost_source"].to_pylist()) == {"pos_total_cost", "standard_price"}

    moves = demo_ctx.lake.read_partition(invoices.TABLE.name, day)
    assert moves.num_rows > 5
    moves = altered(
        moves,
        product_id=every(4, moves["product_id"].to_pylist(), None),
        move_type=every(3, moves["move_type"].to_pylist(), "out_refund"),
        quantity=every(5, moves["quantity"].to_pylist(), 0.0),
    )
    expected = to_table(invoice_sales(demo_ctx, day, moves.to_pylist()), profit.SALES_SCHEMA)
    assert_same_file(
        tmp_path / "inv", "fact_sales", day, profit.invoice_table(demo_ctx, day, in_chunks(moves)), expected
    )
    assert "none" in expected["cost_source"].to_pylist()


def test_profit_without_standard_prices_or_with_a_missing_product(demo_ctx, tmp_path):
    day = DATES[0]
    lines = demo_ctx.lake.read_partition(pos.TABLE.name, day)
    lines = altered(
        lines, is_total_cost_computed=[False] * lines.num_rows, qty=every(2, lines["qty"].to_pylist(), -1.0)
    )
    dim = demo_ctx.dim("dim_product")
    prices = every(2, every(3, dim["standard_price"].to_pylist(), None), -0.0)
    demo_ctx._cache[("dim", "dim_product")] = altered(dim, standard_price=prices)
    expected = to_table(pos_sales(demo_ctx, day, lines.to_pylist()), profit.SALES_SCHEMA)
    assert_same_file(tmp_path, "fact_sales", day, profit.pos_table(demo_ctx, day, lines), expected)
    unknown = altered(lines, product_id=every(9, lines["product_id"].to_pylist(), 10**9)).slice(1)
    with pytest.raises(profit.MissingProduct) as reference:
        list(pos_sales(demo_ctx, day, unknown.to_pylist()))
    with pytest.raises(profit.MissingProduct) as columnar:
        profit.pos_table(demo_ctx, day, unknown)
    assert columnar.value.product_id == reference.value.product_id == 10**9


@pytest.mark.parametrize("day", DATES, ids=str)
def test_inventory_and_stock_equal_the_per_record_shaping(demo_ctx, day):
    moves = list(demo_ctx.read(inventory.MOVES, demo_ctx.day_domain(inventory.MOVES, day)))
    expected = to_table(inventory_rows(demo_ctx, day, moves), inventory.SCHEMA)
    assert inventory.extract(demo_ctx, day)[inventory.TABLE.name].equals(expected)
    assert len(set(expected.column("kind").to_pylist())) > 1 or not moves
    expected = to_table(stock_rows(demo_ctx, day), stock_quants.SCHEMA)
    assert stock_quants.extract(demo_ctx, day)[stock_quants.TABLE.name].equals(expected)


def test_a_day_without_records_gives_typed_empty_facts(demo_ctx):
    quiet = dt.date(2000, 1, 1)
    for module in (pos, invoices, purchases, inventory):
        table = module.extract(demo_ctx, quiet)[module.TABLE.name]
        assert table.num_rows == 0 and table.schema == module.SCHEMA


# ----------------------------------------------------------------------------- extract and totals together
def dataset(extract, totals) -> Dataset:
    return Dataset(name="pos", title="t", tables=(), sources=(), extract=extract, source_totals=totals)


def test_load_computes_the_totals_while_extracting():
    both = threading.Barrier(2, timeout=5)  # each waits for the other: they must run at the same time

    def extract(ctx, day):
        both.wait()
        return {"t": day}

    def totals(ctx, day):
        both.wait()
        return {"count": 1.0}

    assert dataset(extract, totals).load(None, dt.date(2024, 1, 1)) == ({"t": dt.date(2024, 1, 1)}, {"count": 1.0})
    assert dataset(lambda ctx, day: {"t": day}, None).load(None, 5) == ({"t": 5}, {})


def test_load_raises_the_extraction_error_first_and_leaves_no_thread():
    def extract(ctx, day):
        raise ValueError("extract failed")

    def totals(ctx, day):
        raise RuntimeError("totals failed")

    with pytest.raises(ValueError, match="extract failed"):
        dataset(extract, totals).load(None, None)
    with pytest.raises(RuntimeError, match="totals failed"):
        dataset(lambda ctx, day: {}, totals).load(None, None)
    assert not [t for t in threading.enumerate() if t.name.startswith("nkdash-totals")]
