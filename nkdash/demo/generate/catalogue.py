"""The company's static data: departments and their goods, shops, names, and the
rates that drive its behaviour (data, not logic)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Sub:
    name: str
    vat: float
    low: float  # price range, VAT included
    high: float
    bases: tuple[str, ...]
    sizes: tuple[str, ...]


@dataclass(frozen=True)
class Dept:
    name: str
    share: float  # of the goods in the catalogue
    brands: tuple[str, ...]
    qualifiers: tuple[str, ...]
    trade: str  # vendors' trade ("Ardennes Foods NV")
    packs: tuple[int, ...]  # purchase pack sizes
    subs: tuple[Sub, ...]


DEPARTMENTS = (
    Dept(
        "Food",
        0.45,
        ("NK Select", "Boerenhof", "Ardenna", "Maison Lune", "Polderland", "Vita Verde"),
        ("", "Organic ", "Family "),
        "Foods",
        (6, 12),
        (
            Sub(
                "Dairy",
                0.06,
                0.9,
                7.5,
                (
                    "Whole Milk",
                    "Semi-Skimmed Milk",
                    "Greek Yogurt",
                    "Butter",
                    "Gouda Cheese",
                    "Brie",
                    "Fresh Cream",
                    "Skyr",
                ),
                ("250 g", "500 g", "1 L", "4 x 125 g"),
            ),
            Sub(
                "Bakery",
                0.06,
                0.8,
                6.5,
                (
                    "Sourdough Bread",
                    "Croissants",
                    "Baguette",
                    "Rye Bread",
                    "Waffles",
                    "Speculoos",
                    "Muffins",
                    "Pain au Chocolat",
                ),
                ("1 pc", "4 pcs", "400 g", "800 g"),
            ),
            Sub(
                "Fruit & Vegetables",
                0.06,
                0.9,
                6.5,
                ("Apples", "Bananas", "Tomatoes", "Carrots", "Potatoes", "Leeks", "Strawberries", "Salad Mix"),
                ("250 g", "500 g", "1 kg", "2 kg"),
            ),
            Sub(
                "Meat & Fish",
                0.06,
                2.5,
                19.0,
                (
                    "Chicken Breast",
                    "Minced Beef",
                    "Pork Chops",
                    "Salmon Fillet",
                    "Cod Fillet",
                    "Ham Slices",
                    "Salami",
                    "Meatballs",
                ),
                ("200 g", "400 g", "600 g", "1 kg"),
            ),
            Sub(
                "Frozen",
                0.06,
                1.5,
                9.0,
                (
                    "Pizza Margherita",
                    "French Fries",
                    "Garden Peas",
                    "Vanilla Ice Cream",
                    "Fish Sticks",
                    "Spinach",
                    "Lasagne",
                    "Mixed Berries",
                ),
                ("300 g", "450 g", "750 g", "1 kg"),
            ),
            Sub(
                "Pantry",
                0.06,
                0.7,
                9.5,
                (
                    "Spaghetti",
                    "Basmati Rice",
                    "Olive Oil",
                    "Tomato Sauce",
                    "Mayonnaise",
                    "Chocolate Spread",
                    "Cornflakes",
                    "Peanut Butter",
                ),
                ("250 g", "500 g", "750 ml", "1 kg"),
            ),
            Sub(
                "Snacks & Sweets",
                0.06,
                0.9,
                7.5,
                (
                    "Potato Chips",
                    "Milk Chocolate",
                    "Dark Chocolate",
                    "Pralines",
                    "Butter Cookies",
                    "Salted Peanuts",
                    "Gummy Bears",
                    "Cereal Bars",
                ),
                ("100 g", "200 g", "250 g", "400 g"),
            ),
        ),
    ),
    Dept(
        "Beverages",
        0.20,
        ("NK Select", "Brasserie Vos", "Bron Vive", "Kaffa", "Domaine Sauret", "Fizzo"),
        ("", "Zero ", "Premium "),
        "Drinks",
        (6, 12, 24),
        (
            Sub(
                "Soft Drinks",
                0.06,
                0.8,
                4.5,
                ("Cola", "Lemonade", "Orange Soda", "Iced Tea", "Tonic", "Ginger Ale", "Energy Drink", "Apple Juice"),
                ("33 cl", "50 cl", "1.5 L", "6 x 33 cl"),
            ),
            Sub(
                "Water",
                0.06,
                0.4,
                4.0,
                (
                    "Still Water",
                    "Sparkling Water",
                    "Mineral Water",
                    "Flavoured Water",
                    "Spring Water",
                    "Lightly Sparkling Water",
                ),
                ("50 cl", "1 L", "1.5 L", "6 x 1.5 L"),
            ),
            Sub(
                "Coffee & Tea",
                0.06,
                1.9,
                12.0,
                (
                    "Ground Coffee",
                    "Coffee Beans",
                    "Coffee Capsules",
                    "Green Tea",
                    "Black Tea",
                    "Herbal Tea",
                    "Instant Coffee",
                    "Rooibos",
                ),
                ("20 pcs", "250 g", "500 g", "1 kg"),
            ),
            Sub(
                "Beer",
                0.21,
                0.9,
                14.0,
                ("Pils", "Blonde Ale", "Tripel", "Dubbel", "Witbier", "Saison", "Kriek", "IPA"),
                ("25 cl", "33 cl", "75 cl", "6 x 25 cl"),
            ),
            Sub(
                "Wine & Spirits",
                0.21,
                4.5,
                32.0,
                ("Red Wine", "White Wine", "Rosé", "Cava", "Jenever", "Gin", "Port", "Crémant"),
                ("37.5 cl", "50 cl", "75 cl", "1 L"),
            ),
        ),
    ),
    Dept(
        "Household",
        0.13,
        ("NK Home", "Clarex", "Pureté", "Nordwash", "Maxiclean", "Ecosoft"),
        ("", "Eco ", "Extra Strong "),
        "Home Supplies",
        (4, 6),
        (
            Sub(
                "Cleaning",
                0.21,
                1.2,
                9.0,
                (
                    "All-Purpose Cleaner",
                    "Glass Cleaner",
                    "Bleach",
                    "Dish Soap",
                    "Sponges",
                    "Floor Cleaner",
                    "Descaler",
                    "Toilet Gel",
                ),
                ("500 ml", "750 ml", "1 L", "3 pcs"),
            ),
            Sub(
                "Laundry",
                0.21,
                2.5,
                19.0,
                (
                    "Laundry Liquid",
                    "Washing Powder",
                    "Fabric Softener",
                    "Stain Remover",
                    "Laundry Pods",
                    "Wool Detergent",
                ),
                ("1 L", "2 L", "20 washes", "40 washes"),
            ),
            Sub(
                "Paper Goods",
                0.21,
                1.5,
                12.0,
                ("Toilet Paper", "Kitchen Towels", "Tissues", "Napkins", "Baking Paper", "Aluminium Foil"),
                ("4 rolls", "8 rolls", "12 rolls", "24 pcs"),
            ),
            Sub(
                "Kitchenware",
                0.21,
                2.9,
                34.0,
                (
                    "Frying Pan",
                    "Saucepan",
                    "Chef Knife",
                    "Cutting Board",
                    "Storage Box",
                    "Mixing Bowl",
                    "Colander",
                    "Whisk",
                ),
                ("S", "M", "L", "Set of 3"),
            ),
        ),
    ),
    Dept(
        "Personal Care",
        0.12,
        ("NK Care", "Doucea", "Lumis", "Dentaro", "BabySoft", "Aqualis"),
        ("", "Sensitive ", "Fresh "),
        "Cosmetics",
        (4, 6),
        (
            Sub(
                "Hair Care",
                0.21,
                2.0,
                11.0,
                ("Shampoo", "Conditioner", "Hair Gel", "Hair Spray", "Hair Mask", "Dry Shampoo"),
                ("200 ml", "250 ml", "400 ml", "2 x 250 ml"),
            ),
            Sub(
                "Skin Care",
                0.21,
                2.5,
                24.0,
                (
                    "Day Cream",
                    "Night Cream",
                    "Body Lotion",
                    "Hand Cream",
                    "Sun Cream SPF 30",
                    "Shower Gel",
                    "Deodorant",
                    "Lip Balm",
                ),
                ("50 ml", "150 ml", "250 ml", "400 ml"),
            ),
            Sub(
                "Oral Care",
                0.21,
                1.5,
                9.0,
                ("Toothpaste", "Toothbrush", "Mouthwash", "Dental Floss", "Whitening Strips"),
                ("1 pc", "75 ml", "2 pcs", "500 ml"),
            ),
            Sub(
                "Baby Care",
                0.21,
                2.5,
                26.0,
                ("Diapers", "Baby Wipes", "Baby Shampoo", "Baby Lotion", "Nappy Cream", "Baby Bottle"),
                ("size 3", "size 4", "64 pcs", "200 ml"),
            ),
        ),
    ),
    Dept(
        "Home & Leisure",
        0.10,
        ("NK Home", "Kidoo", "Scriba", "GreenPlot", "Voltex", "Joyo"),
        ("", "Deluxe ", "Mini "),
        "Trading",
        (1, 2, 4),
        (
            Sub(
                "Toys",
                0.21,
                3.5,
                45.0,
                ("Building Blocks", "Puzzle", "Plush Bear", "Toy Car", "Board Game", "Card Game", "Doll", "Kite"),
                ("S", "M", "L", "XL"),
            ),
            Sub(
                "Stationery",
                0.21,
                0.9,
                14.0,
                (
                    "Notebook",
                    "Ballpoint Pens",
                    "Colour Pencils",
                    "Glue Stick",
                    "Sticky Notes",
                    "Ring Binder",
                    "Scissors",
                    "Envelopes",
                ),
                ("1 pc", "3 pcs", "10 pcs", "A4"),
            ),
            Sub(
                "Garden",
                0.21,
                2.5,
                39.0,
                (
                    "Potting Soil",
                    "Flower Seeds",
                    "Garden Gloves",
                    "Watering Can",
                    "Plant Food",
                    "Bird Seed",
                    "Flower Pot",
                    "Pruning Shears",
                ),
                ("S", "M", "L", "20 L"),
            ),
            Sub(
                "Electronics Accessories",
                0.21,
                3.0,
                39.0,
                (
                    "USB-C Cable",
                    "AA Batteries",
                    "Phone Charger",
                    "Earphones",
                    "Power Bank",
                    "LED Bulb",
                    "Extension Cord",
                    "HDMI Cable",
                ),
                ("1 pc", "1 m", "2 m", "4 pcs"),
            ),
        ),
    ),
)
# (category path, code, kind, [(name, list price excl. VAT, cost)])
EXTRAS = (
    (("Store Supplies", "Bags"), "SUP", "consu", (("Reusable Carrier Bag", 0.41, 0.14), ("Paper Bag", 0.09, 0.03))),
    (
        ("Services", "In-Store Services"),
        "SRV",
        "service",
        (
            ("Home Delivery", 4.13, 2.60),
            ("Gift Wrapping", 2.07, 0.35),
            ("Extended Warranty 2 Years", 12.40, 3.10),
            ("Key Cutting", 4.96, 1.20),
        ),
    ),
)
EXTRA_COUNT = sum(len(products) for *_rest, products in EXTRAS)
PRICE_ENDINGS = (0.29, 0.49, 0.79, 0.99)  # of prices VAT included

COMPANY = "NK Retail SA"
NEW_SHOP_DAYS = 300  # the station night shop opened this many days before the last day (histories longer than that)
LANG = "en_GB"  # the company's language (its partner's): the dashboards' formats default to it
LANGUAGES = (  # res.lang: code, name, date format, active
    ("en_US", "English (US)", "%m/%d/%Y", True),
    ("en_GB", "English (UK)", "%d/%m/%Y", True),
)
SITES = (
    ("Brussels Centre", "BRU"),
    ("Antwerp Central Station", "ANT"),
    ("Ghent Korenmarkt", "GNT"),
    ("Liège Cathédrale", "LGE"),
    ("Leuven Ladeuzeplein", "LEU"),
    ("Bruges Markt", "BRG"),
    ("Namur Gare", "NAM"),
    ("Mechelen Bruul", "MEC"),
    ("Hasselt Grote Markt", "HAS"),
    ("Charleroi Ville 2", "CRL"),
    ("Mons Grand-Place", "MON"),
    ("Kortrijk K", "KOR"),
    ("Ostend Kursaal", "OST"),
    ("Aalst Houtmarkt", "AAL"),
    ("Genk Shopping 1", "GNK"),
    ("Wavre Esplanade", "WAV"),
    ("Sint-Niklaas Waasland", "SNK"),
    ("Tournai Bastions", "TOU"),
    ("Turnhout Grote Markt", "TUR"),
    ("Arlon Belle-Vue", "ARL"),
)
FIRST_NAMES = (
    "Emma",
    "Louis",
    "Olivia",
    "Arthur",
    "Louise",
    "Jules",
    "Mila",
    "Noah",
    "Elena",
    "Lucas",
    "Alice",
    "Adam",
    "Lina",
    "Victor",
    "Nora",
    "Gabriel",
    "Marie",
    "Liam",
    "Julie",
    "Thomas",
    "Sofie",
    "Pieter",
    "Camille",
    "Hugo",
    "Anna",
    "Wout",
    "Charlotte",
    "Lars",
    "Ines",
    "Milan",
)
LAST_NAMES = (
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Dupont",
    "Martin",
    "Simon",
    "Laurent",
    "Leroy",
    "Vermeulen",
    "Van Damme",
    "Hermans",
    "Pauwels",
    "Desmet",
    "Lemaire",
    "Renard",
    "Aerts",
    "Michiels",
    "Declercq",
    "Coppens",
    "Segers",
    "Nys",
)
CITIES = (
    "Brussels",
    "Antwerp",
    "Ghent",
    "Charleroi",
    "Liège",
    "Bruges",
    "Namur",
    "Leuven",
    "Mons",
    "Mechelen",
    "Aalst",
    "Hasselt",
    "Kortrijk",
    "Ostend",
    "Tournai",
    "Genk",
    "Wavre",
    "Arlon",
    "Turnhout",
    "Sint-Niklaas",
)
TRADES = ("Restaurant", "Café", "Hotel", "Brasserie", "Bakery", "School", "Daycare", "Catering", "Sports Club")
PLACES = (
    "Ardennes",
    "Kempen",
    "Polder",
    "Meuse",
    "Scheldt",
    "Haspengouw",
    "Famenne",
    "Westhoek",
    "Condroz",
    "Brabant",
    "Gaume",
    "Hageland",
    "Pajottenland",
    "Meetjesland",
    "Waasland",
    "Zenne",
    "Dender",
    "Leie",
    "Ourthe",
    "Semois",
)
LEGAL_FORMS = ("NV", "SA", "BV", "SRL")
CASHIER_MODELS = frozenset(
    {
        "pos.config",
        "pos.session",
        "pos.order",
        "pos.order.line",
        "product.product",
        "product.category",
        "res.partner",
        "res.users",
        "res.company",
        "res.currency",
    }
)
CASHIER_PASSWORD = "cashier"

# Selling behaviour.
POS_QTY = (1,) * 70 + (2,) * 20 + (3,) * 6 + (4,) * 2 + (6,) * 2  # units per POS line
INVOICE_LINES = 5.0  # mean lines per customer invoice
B2B_QTY = (1, 2, 2, 3, 4, 5, 6, 6, 10, 12, 12, 20, 24)  # units per invoice line
DISCOUNTS = (5.0, 10.0, 10.0, 15.0, 20.0, 20.0, 25.0, 30.0, 50.0)
HOURLY = {
    7: 0.5,
    8: 0.6,
    9: 0.7,
    10: 0.9,
    11: 1.2,
    12: 1.6,
    13: 1.3,
    14: 0.9,
    15: 0.9,
    16: 1.2,
    17: 1.7,
    18: 1.6,
    19: 1.0,
    20: 0.7,
    21: 0.5,
    22: 0.35,
    23: 0.25,
}
WEEKDAY = (0.9, 0.9, 0.95, 1.0, 1.15, 1.3, 0.75)  # order volume, Monday first
DISCOUNT_RATE, CUSTOMER_RATE, INVOICE_RATE, CANCEL_RATE = 0.07, 0.3, 0.05, 0.01
REFUND_RATE, REFUND_WINDOW = 0.015, 14  # refunds per order; days back
COST_CHANGES_PER_YEAR = 3.0
PURCHASE_FATES = (("cancel", 0.03), ("draft", 0.02), ("sent", 0.02))  # else confirmed
INVOICE_FATES = (("draft", 0.03), ("cancel", 0.03), ("next day", 0.15))  # else posted at once
OPEN_STATES = ("opened", "closing_control")  # last day's first sessions

HOUR = 3600
DAY_S = 24 * HOUR
ONE_DAY = dt.timedelta(days=1)
SETUP_DAYS = 120  # dimensions predate history
ADJUSTMENT = "Product Quantity Updated"
STORABLE, CONSU, SERVICE = "storable", "consu", "service"
