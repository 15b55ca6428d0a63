"""A believable demo catalogue: 12 t-shirts and 6 cushions with generated product shots."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

from PIL import Image
from sqlmodel import Session, select

from catalog import service
from catalog.models import Collection, Product, ProductImage, Variant
from store.demo.articles import LAUNCH_SLUG
from store.demo.images import garment
from store.media import store_image
from store.news.models import Article

TSHIRT_PRICE = 2500
CUSHION_PRICE = 3000
TSHIRT_SIZES = ["XS", "S", "M", "L", "XL", "2XL", "3XL"]
CUSHION_SIZES = ["45 x 45 cm", "60 x 60 cm"]
BIG_SIZE_UPLIFT = 200  # 3XL costs £2 more
SHOT_PX = 800
PRINT_BASE = "https://files.redrevolution.example/prints"

COLOURS = {
    "Black": ((28, 28, 30), (230, 40, 40)),
    "White": ((246, 246, 244), (200, 20, 30)),
    "Red": ((190, 25, 35), (250, 250, 250)),
    "Navy": ((30, 40, 80), (250, 250, 250)),
    "Heather Grey": ((160, 160, 165), (20, 20, 20)),
    "Forest Green": ((35, 80, 50), (245, 240, 230)),
    "Natural": ((232, 220, 196), (170, 25, 30)),
    "Charcoal": ((60, 60, 64), (240, 240, 240)),
}

# (slug, title, slogan on the print, description, colours, tags)
TSHIRTS = [
    (
        "no-war-but-class-war-tee",
        "No War But The Class War t-shirt",
        "No war but the class war",
        "A heavyweight organic cotton tee for every march against the next war of choice. "
        "Printed to order in the UK.",
        ["Black", "White", "Red"],
        ["anti-war", "protest"],
    ),
    (
        "count-the-civilian-dead-tee",
        "Count The Civilian Dead t-shirt",
        "Count the civilian dead",
        "Because every life lost to an airstrike deserves a name. Soft-washed cotton, unisex fit.",
        ["Black", "Heather Grey"],
        ["anti-war", "human-rights"],
    ),
    (
        "human-rights-are-not-optional-tee",
        "Human Rights Are Not Optional t-shirt",
        "Human rights are not optional",
        "A reminder for every government that would rather forget. Unisex fit, ethically made.",
        ["White", "Navy", "Black"],
        ["human-rights"],
    ),
    (
        "solidarity-forever-tee",
        "Solidarity Forever t-shirt",
        "Solidarity forever",
        "The old union hymn, as true on the picket line today as ever. Heavyweight cotton.",
        ["Red", "Black", "Natural", "Navy"],
        ["workers-rights", "protest"],
    ),
    (
        "pay-the-nurses-tee",
        "Pay The Nurses t-shirt",
        "Pay the nurses",
        "Stand with the people who stood with us. A share of every sale supports our NHS coverage.",
        ["Navy", "White"],
        ["nhs", "workers-rights"],
    ),
    (
        "save-our-nhs-tee",
        "Save Our NHS t-shirt",
        "Save our NHS",
        "Free at the point of use, and we mean to keep it that way. Organic cotton, unisex fit.",
        ["Navy", "Heather Grey", "White"],
        ["nhs"],
    ),
    (
        "homes-for-people-not-profit-tee",
        "Homes For People Not Profit t-shirt",
        "Homes for people not profit",
        "For every tenants' union, rent strike and repair campaign. Soft-washed cotton.",
        ["Charcoal", "Red"],
        ["housing", "protest"],
    ),
    (
        "rent-strike-tee",
        "Rent Strike t-shirt",
        "Rent strike",
        "Two words that landlords fear. Bold print on heavyweight cotton.",
        ["Black", "Natural"],
        ["housing", "workers-rights"],
    ),
    (
        "no-planet-b-tee",
        "There Is No Planet B t-shirt",
        "There is no planet B",
        "A classic from the climate marches, printed with water-based inks on organic cotton.",
        ["Forest Green", "Natural", "White"],
        ["climate", "protest"],
    ),
    (
        "climate-justice-now-tee",
        "Climate Justice Now t-shirt",
        "Climate justice now",
        "No new oil, no new gas, and a just transition for the workers. Unisex fit.",
        ["Forest Green", "Black"],
        ["climate"],
    ),
    (
        "the-right-to-protest-tee",
        "Defend The Right To Protest t-shirt",
        "Defend the right to protest",
        "Peaceful protest is a right, not a privilege granted by the Home Office. Heavyweight cotton.",
        ["Black", "White", "Red"],
        ["protest", "human-rights"],
    ),
    (
        "workers-of-the-world-tee",
        "Workers Of The World t-shirt",
        "Workers of the world unite",
        "You have nothing to lose but your chains, and a tee that washes beautifully. Organic cotton.",
        ["Red", "Charcoal"],
        ["workers-rights"],
    ),
]

CUSHIONS = [
    (
        "peace-not-bombs-cushion",
        "Peace Not Bombs cushion",
        "Peace not bombs",
        "A cotton canvas cushion for the sofa of every peace campaigner. Cover and pad included.",
        ["Natural", "Red"],
        ["anti-war"],
    ),
    (
        "nhs-heroes-cushion",
        "NHS Heroes cushion",
        "NHS heroes",
        "A thank-you to the people who keep the health service going. Cover and pad included.",
        ["Navy", "White"],
        ["nhs"],
    ),
    (
        "tenants-together-cushion",
        "Tenants Together cushion",
        "Tenants together",
        "For the living room you'll never let a landlord neglect again. Cover and pad included.",
        ["Charcoal", "Natural"],
        ["housing"],
    ),
    (
        "union-strong-cushion",
        "Union Strong cushion",
        "Union strong",
        "A cushion for the long meetings. Cotton canvas cover with pad.",
        ["Red", "Black"],
        ["workers-rights"],
    ),
    (
        "planet-over-profit-cushion",
        "Planet Over Profit cushion",
        "Planet over profit",
        "Recycled-fibre pad and an organic cotton cover, printed with water-based inks.",
        ["Forest Green", "Natural"],
        ["climate"],
    ),
    (
        "stop-arming-war-cushion",
        "Stop Arming War cushion",
        "Stop arming war",
        "Cotton canvas cushion; a share of every sale funds our reporting on the arms trade.",
        ["Black", "White"],
        ["anti-war", "human-rights"],
    ),
]

LAUNCH_PICKS = ["count-the-civilian-dead-tee", "peace-not-bombs-cushion", "no-war-but-class-war-tee"]


def _product_shot(job: tuple[str, str, str]) -> str:
    """Draw, shrink (demo pages need no more than 800 px) and store one product shot; its media key."""
    slogan, colour, kind = job
    paper, ink = COLOURS[colour]
    drawn = Image.open(io.BytesIO(garment(slogan, colour=paper, ink=ink, kind=kind, seed=0)))
    out = io.BytesIO()
    drawn.resize((SHOT_PX, SHOT_PX), Image.Resampling.LANCZOS).save(out, "PNG")
    return store_image(out.getvalue(), field="photo").key


def _shots() -> dict[tuple[str, str, str], str]:
    jobs = sorted(
        {(slogan, colour, "tshirt") for _, _, slogan, _, colours, _ in TSHIRTS for colour in colours}
        | {(slogan, colour, "cushion") for _, _, slogan, _, colours, _ in CUSHIONS for colour in colours}
    )
    # Pillow releases the GIL while encoding: four threads make the demo load a few seconds.
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(_product_shot, jobs), strict=True))


def load_demo(session: Session) -> None:
    if session.exec(select(Product.id).limit(1)).first() is not None:
        return
    shots = _shots()
    service.ensure_collections(session)
    collections = {c.slug: c.id for c in session.exec(select(Collection)).all() if c.id is not None}
    position = 0
    provider_id = 4010
    for kind, items, collection, sizes, price, cost in (
        ("tshirt", TSHIRTS, "t-shirts", TSHIRT_SIZES, TSHIRT_PRICE, 1150),
        ("cushion", CUSHIONS, "cushions", CUSHION_SIZES, CUSHION_PRICE, 1420),
    ):
        for slug, title, slogan, description, colours, tags in items:
            position += 1
            product = Product(
                slug=slug,
                title=title,
                description=description,
                collection_id=collections[collection],
                price=price,
                is_published=True,
                position=position,
            )
            session.add(product)
            session.flush()
            assert product.id is not None
            taken: set[str] = set()
            v_position = 0
            for colour in colours:
                for size in sizes:
                    provider_id += 1
                    override = (
                        price + BIG_SIZE_UPLIFT
                        if size == "3XL"
                        else price + 500
                        if size == "60 x 60 cm"
                        else None
                    )
                    session.add(
                        Variant(
                            product_id=product.id,
                            sku=service.make_sku(session, slug=slug, size=size, colour=colour, taken=taken),
                            options={"size": size, "colour": colour},
                            price_override=override,
                            provider_cost=cost + (150 if override else 0),
                            provider_variant_id=provider_id,
                            print_file_url=f"{PRINT_BASE}/{slug}.png",
                            position=v_position,
                        )
                    )
                    v_position += 1
                key = shots[(slogan, colour, kind)]
                session.add(
                    ProductImage(
                        product_id=product.id,
                        image_key=key,
                        colour=colour,
                        position=colours.index(colour),
                        alt=f"{title} in {colour.lower()}: “{slogan}” printed across the front",
                    )
                )
            service.set_tags(session, product_id=product.id, tags=tags)
    session.flush()
    launch = session.exec(select(Article).where(Article.slug == LAUNCH_SLUG)).first()
    if launch is not None and launch.id is not None:
        by_slug = {p.slug: p for p in session.exec(select(Product)).all()}
        for pos, slug in enumerate(LAUNCH_PICKS):
            pid = by_slug[slug].id
            assert pid is not None
            service.pick_for_article(session, article_id=launch.id, product_id=pid, position=pos)
