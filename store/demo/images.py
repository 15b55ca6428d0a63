"""Demo pictures drawn with Pillow at load time, so no binary files live in git."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFont


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def photo(label: str, *, seed: int, size: tuple[int, int] = (1600, 900), palette: str = "dusk") -> bytes:
    """A moody 'photo': a gradient sky, a skyline of blocks, and a caption band."""
    rng = random.Random(seed)
    w, h = size
    top = (40 + rng.randint(0, 40), 50 + rng.randint(0, 30), 80 + rng.randint(0, 60))
    bottom = (180 + rng.randint(0, 60), 120 + rng.randint(0, 50), 90 + rng.randint(0, 40))
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / h
        colour = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (w, y)], fill=colour)
    x = 0
    while x < w:
        bw = rng.randint(w // 30, w // 10)
        bh = rng.randint(h // 6, h // 2)
        shade = rng.randint(25, 60)
        draw.rectangle([x, h - bh, x + bw, h], fill=(shade, shade - 5, shade - 10))
        x += bw + rng.randint(0, w // 60)
    draw.rectangle([0, h - h // 9, w, h], fill=(20, 20, 20))
    draw.text((w // 40, h - h // 11), label, fill=(240, 240, 240), font=_font(h // 22))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def garment(
    text: str, *, colour: tuple[int, int, int], ink: tuple[int, int, int], kind: str, seed: int
) -> bytes:
    """A flat product shot: a t-shirt or cushion silhouette with its slogan."""
    size = 1200
    img = Image.new("RGB", (size, size), (238, 236, 232))
    draw = ImageDraw.Draw(img)
    if kind == "cushion":
        draw.rounded_rectangle([170, 170, 1030, 1030], radius=120, fill=colour, outline=(0, 0, 0), width=4)
        box = (260, 430, 940, 770)
    else:
        body = [(330, 260), (480, 200), (720, 200), (870, 260), (1060, 430), (950, 540), (880, 480),
                (880, 1050), (320, 1050), (320, 480), (250, 540), (140, 430)]
        draw.polygon(body, fill=colour, outline=(0, 0, 0))
        draw.arc([520, 150, 680, 280], 0, 180, fill=(0, 0, 0), width=6)
        box = (390, 420, 810, 760)
    words = text.upper().split()
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + len(word) < 12:
            lines[-1] += " " + word
        else:
            lines.append(word)
    font = _font(max(36, 300 // max(3, max(len(line) for line in lines))))
    y = box[1] + (box[3] - box[1] - len(lines) * font.size) // 2 if hasattr(font, "size") else box[1]
    for line in lines:
        tw = draw.textlength(line, font=font)
        draw.text(((box[0] + box[2] - tw) / 2, y), line, fill=ink, font=font)
        y += int(getattr(font, "size", 40) * 1.15)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()
