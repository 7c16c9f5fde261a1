"""The shop: a tiny hand-made Odoo database (five orders, four products), the same for every
demo test, with predictable ids."""

import datetime as dt

from nkdash.demo.schema import define_models
from nkdash.demo.store import Database, User

NOW = dt.datetime(2024, 3, 10, 12, 0)


def shop_db(version: int = 17) -> Database:
    """A tiny shop, the same for every demo test: ids are predictable (1, 2, 3...).

    Orders (naive UTC; Brussels is UTC+1 in March):
      1 paid     2024-03-01 09:15  Brandon   apple x2, banana x2   3.40
      2 done     2024-03-01 22:30  -         cola x1               2.00
      3 invoiced 2024-03-01 23:30  Azure     bread x2              6.20   (2 March in Brussels; done in 19)
      4 cancel   2024-03-02 10:00  Old (inactive) apple x1          1.20
      5 paid     2024-03-03 08:00  Brandon   apple x-1 (refund)    -1.20
    """
    db = Database("demo", version, now=NOW)
    define_models(db)
    db.users["admin"] = User("admin", "admin", 2, api_key="demo-api-key")
    db.users["clerk"] = User(
        "clerk", "clerk-pw", 7, api_key="clerk-key", allowed_models=frozenset({"res.users", "product.product"})
    )

    def add(model, **values):
        return db.create(model, values)

    add("res.currency", name="EUR", symbol="€")
    add(
        "res.partner",
        name="Azure Interior",
        email="info@azure.example",
        is_company=True,
        active=True,
        customer_rank=1,
        parent_id=False,
    )
    add("res.partner", name="Brandon Freeman", email=False, is_company=False, active=True, customer_rank=2, parent_id=1)
    add(
        "res.partner",
        name="Old Customer",
        email="old@example.com",
        is_company=False,
        active=False,
        customer_rank=0,
        parent_id=False,
    )
    add("res.company", name="NK Retail SA", currency_id=1, partner_id=1)
    add("res.users", id=2, name="Mitchell Admin", login="admin", tz="Europe/Brussels", active=True)
    add("res.users", id=7, name="Clara Clerk", login="clerk", tz=False, active=True)
    for name, full, parent in [
        ("All", "All", False),
        ("Food", "All / Food", 1),
        ("Fruit", "All / Food / Fruit", 2),
        ("Drinks", "All / Drinks", 1),
    ]:
        add("product.category", name=name, complete_name=full, parent_id=parent)
    for name, categ, price, active in [
        ("Apple", 3, 1.2, True),
        ("Banana", 3, 0.5, True),
        ("Cola", 4, 2.0, True),
        ("Bread", 2, 3.1, True),
        ("Old Soap", 1, 1.0, False),
    ]:
        add(
            "product.product",
            name=name,
            categ_id=categ,
            list_price=price,
            standard_price=price / 2,
            sale_ok=name != "Bread",
            active=active,
            default_code=name[:3].upper(),
        )
    add("pos.config", name="Brussels Centre", active=True, company_id=1)
    add("pos.config", name="Gent", active=True, company_id=1)
    invoiced = "invoiced" if version <= 18 else "done"
    orders = [
        (1, "paid", "2024-03-01 09:15:00", 2, [(1, 2, 1.2), (2, 2, 0.5)]),
        (1, "done", "2024-03-01 22:30:00", False, [(3, 1, 2.0)]),
        (2, invoiced, "2024-03-01 23:30:00", 1, [(4, 2, 3.1)]),
        (2, "cancel", "2024-03-02 10:00:00", 3, [(1, 1, 1.2)]),
        (1, "paid", "2024-03-03 08:00:00", 2, [(1, -1, 1.2)]),
    ]
    for n, (config, state, when, partner, lines) in enumerate(orders, start=1):
        total = round(sum(q * p for _, q, p in lines), 2)
        order = add(
            "pos.order",
            name=f"Shop/{n:04d}",
            config_id=config,
            state=state,
            date_order=when,
            partner_id=partner,
            amount_total=total,
            amount_tax=0.0,
            company_id=1,
            account_move=False,
            is_invoiced=state == invoiced,
        )
        for product, qty, price in lines:
            add(
                "pos.order.line",
                order_id=order,
                product_id=product,
                qty=qty,
                price_unit=price,
                price_subtotal=round(qty * price, 2),
                total_cost=round(qty * price / 2, 2),
                refunded_orderline_id=1 if qty < 0 else False,
            )
    move = add(
        "account.move",
        name="INV/2024/00001",
        move_type="out_invoice",
        state="posted",
        partner_id=1,
        date="2024-03-02",
        invoice_date="2024-03-02",
        amount_total=6.2,
        company_id=1,
    )
    db.write("pos.order", [3], {"account_move": move})
    return db
