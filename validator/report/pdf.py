"""The evidence report as an A4 PDF (zh or en) with its font embedded.

``render_pdf(report, lang, pictures=folder)`` renders one video's report (the
words of ``validator.report.evidence``) and its key frames (the ``v0-*.jpg``
thumbnails ``check_case`` writes beside ``report.json``); ``case_pdf(folder,
lang)`` renders a case's folder (``report.json`` and its pictures), one section per
video. The CLI, the service and batch can all call them.

Library: fpdf2 (pure Python; it subsets and embeds TrueType and OpenType/CFF fonts,
collections included, through fontTools). ReportLab embeds TrueType only, and its CJK
fonts are the viewer's own (not embedded: a fresh machine shows boxes); WeasyPrint
needs Pango from the system. A PDF viewer on a machine without Chinese fonts shows
the text because the glyphs used are embedded (a subset, a few tens of kB).

The font (Noto Sans CJK SC, SIL OFL 1.1) is found at run time, never downloaded:

1. the setting ``APPEAL_VALIDATOR_CJK_FONT``: a .ttf, .otf, .ttc or .otc file with
   Chinese glyphs (in a collection, the face whose family ends in "SC", else the first
   that has them);
2. Debian's ``fonts-noto-cjk`` (``/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc``,
   static Regular and Bold; Arch's ``noto-fonts-cjk`` path too);
3. the PyPI package ``manimgx-fonts-cjk`` (a dependency of this project: the
   variable Noto Sans CJK collection), instanced at the regular and bold weights
   after it is cut down to the characters printed (``_static_subset``: instancing
   the whole 33 MB font takes seconds, the subset about one).

None of them: ``FontMissing`` (a ``ConfigError``), whose message says what to install.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from validator.errors import FontMissing
from validator.report.evidence import Evidence, Frame, evidence, picture_path
from validator.timeutil import parse_time

CJK_FONT_ENV = "APPEAL_VALIDATOR_CJK_FONT"
# Debian/Ubuntu fonts-noto-cjk; Arch noto-fonts-cjk. Static faces: embedded as they are.
SYSTEM_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)
PYPI_FONT_PACKAGE = "manimgx_fonts_cjk"  # pip: manimgx-fonts-cjk
PYPI_FONT_FILE = "NotoSansCJK-VF.otf.ttc"
# Characters a font must map to set this report's Chinese ("中文证据报告").
_PROBE = "中文证据报告"
REGULAR_WGHT = 400.0
BOLD_WGHT = 700.0

# A4 in mm; margins and type sizes in mm and pt.
PAGE_MARGIN_MM = 15.0
BODY_PT = 10.0
SMALL_PT = 8.0
FRAME_COLUMNS = 4
FRAME_GAP_MM = 4.0
# The verdicts' colours (those of the web page, validator/web/static/style.css), used for
# bars and borders only: text stays dark on white, so nothing is lost in print.
COLOURS = {"pass": (26, 127, 55), "fail": (207, 34, 46), "review": (154, 103, 0)}
INK = (31, 35, 40)
MUTED = (87, 96, 106)


@dataclass(frozen=True)
class FontFace:
    """A font file, the face in it (collections), and the weight to instance (variable)."""

    path: Path
    index: int = 0
    wght: float | None = None  # None: a static face, embedded as it is


@dataclass(frozen=True)
class Fonts:
    regular: FontFace
    bold: FontFace | None


def _missing(why: str) -> FontMissing:
    en = (
        f"the evidence PDF needs a font with Chinese glyphs to embed: {why}. Install the "
        f"Python package manimgx-fonts-cjk (a dependency of this tool) or Debian's "
        f"fonts-noto-cjk, or set {CJK_FONT_ENV} to a .ttf/.otf/.ttc font file that has them"
    )
    zh = (
        f"生成 PDF 证据报告需要一个含中文字形的字体：{why}。请安装 Python 包 "
        f"manimgx-fonts-cjk（本工具的依赖）或 Debian 的 fonts-noto-cjk，或将 {CJK_FONT_ENV} "
        "设为含中文字形的 .ttf/.otf/.ttc 字体文件。"
    )
    return FontMissing(en, details={"setting": CJK_FONT_ENV, "message_zh": zh})


def _pick_face(path: Path) -> FontFace:
    """The face of ``path`` to use: in a collection the Simplified Chinese one ("... SC"),
    else the first that maps the probe characters. Raises FontMissing."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    try:
        with path.open("rb") as f:
            collection = f.read(4) == b"ttcf"
        opened: Any = TTCollection(str(path), lazy=True) if collection else TTFont(
            str(path), lazy=True)  # fmt: skip
    except (OSError, TTLibError, AssertionError) as e:
        raise _missing(f"{path.name} is not a font file that can be read ({e})") from e
    faces = opened.fonts if collection else [opened]

    def covers(font: Any) -> bool:
        cmap = font.getBestCmap() or {}
        return all(ord(ch) in cmap for ch in _PROBE)

    try:
        order = sorted(
            range(len(faces)),
            key=lambda i: not str(faces[i]["name"].getDebugName(1) or "").endswith(" SC"),
        )
        for i in order:
            if covers(faces[i]):
                return FontFace(path, i, REGULAR_WGHT if "fvar" in faces[i] else None)
    except (TTLibError, KeyError, AssertionError) as e:
        raise _missing(f"{path.name} is not a font file that can be read ({e})") from e
    finally:
        opened.close()
    raise _missing(f"{path.name} has no Chinese glyphs")


def _bold_of(face: FontFace) -> FontFace | None:
    if face.wght is not None:  # a variable font: the same face at the bold weight
        return FontFace(face.path, face.index, BOLD_WGHT)
    sibling = face.path.with_name(face.path.name.replace("Regular", "Bold"))
    if sibling != face.path and sibling.is_file():
        return FontFace(sibling, face.index)
    return None


def find_fonts() -> Fonts:
    """The CJK font to embed (see the module docstring for the order); FontMissing if none."""
    setting = os.environ.get(CJK_FONT_ENV, "").strip()
    if setting:
        path = Path(setting).expanduser()
        if not path.is_file():
            raise _missing(f"{CJK_FONT_ENV}={setting} is not a file")
        return Fonts(_pick_face(path), None)
    for path in SYSTEM_FONTS:
        if path.is_file():
            face = _pick_face(path)
            return Fonts(face, _bold_of(face))
    try:
        from importlib.resources import files

        packaged = Path(str(files(PYPI_FONT_PACKAGE) / PYPI_FONT_FILE))
    except ImportError:
        packaged = None
    if packaged is not None and packaged.is_file():
        face = _pick_face(packaged)
        return Fonts(face, _bold_of(face))
    raise _missing("none is installed")


def _static_subset(face: FontFace, text: str, folder: Path, name: str) -> Path:
    """A variable face cut down to ``text``'s characters and instanced at ``face.wght``,
    saved in ``folder``. Subsetting first keeps the instancing to about a second."""
    from fontTools.ttLib import TTFont

    # recalcTimestamp off: the same text gives the same font, and so the same PDF.
    with TTFont(str(face.path), fontNumber=face.index, recalcTimestamp=False) as font:
        return _instance(font, face, text, folder / name)


def _instance(font: Any, face: FontFace, text: str, out: Path) -> Path:
    from fontTools import subset
    from fontTools.varLib import instancer

    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    sub = subset.Subsetter(options)
    sub.populate(text=text + "0123456789 ")
    sub.subset(font)
    static = instancer.instantiateVariableFont(font, {"wght": face.wght}, static=True)
    # Each weight its own names: the PDF's two fonts must not share a BaseFont (fpdf2
    # takes it from name.getBestFullName(): the family (ID 1), the typographic names
    # (16, 17, 21, 22) removed so that it is read).
    names = static["name"]
    family = f"{names.getDebugName(1) or 'Noto Sans CJK'} W{face.wght:.0f}"
    ps = f"{str(names.getDebugName(6) or 'NotoSansCJK').split('-')[0]}-W{face.wght:.0f}"
    names.names = [n for n in names.names if n.nameID not in (16, 17, 21, 22)]
    for plat, enc, lang in ((3, 1, 0x409), (1, 0, 0)):
        names.setName(family, 1, plat, enc, lang)
        names.setName("Regular", 2, plat, enc, lang)
        names.setName(family, 4, plat, enc, lang)
        names.setName(ps, 6, plat, enc, lang)
    buf = io.BytesIO()
    static.save(buf)
    out.write_bytes(buf.getvalue())
    return out


def _frame_size(path: Path) -> tuple[int, int]:
    """A picture's (width, height) in pixels, from its header."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


class _Doc:
    """The PDF being written (fpdf2), with the report's few styles."""

    def __init__(self, fonts: Fonts, text: str, scratch: Path, footer: str, lang: str) -> None:
        from fpdf import FPDF
        from fpdf.enums import WrapMode

        # Chinese has no spaces to break at: wrap it by character; English by word (a
        # word longer than the line, like a SHA-256, is still broken).
        self.wrap = WrapMode.CHAR if lang == "zh" else WrapMode.WORD

        doc = self

        class Pdf(FPDF):
            def footer(self) -> None:
                self.set_y(-10)
                doc.style(SMALL_PT, MUTED)
                self.cell(0, 5, footer.replace("{n}", str(self.page_no())), align="C")

        self.pdf = Pdf(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_margins(PAGE_MARGIN_MM, PAGE_MARGIN_MM, PAGE_MARGIN_MM)
        self.pdf.set_auto_page_break(True, margin=PAGE_MARGIN_MM + 2)
        self.pdf.set_creator("appeal-evidence-validator")
        self.has_bold = fonts.bold is not None
        for style, face in (("", fonts.regular), ("B", fonts.bold)):
            if face is None:
                continue
            path = face.path
            if face.wght is not None:
                path = _static_subset(face, text, scratch, f"cjk{style or 'R'}.otf")
                self.pdf.add_font("cjk", style, str(path))
            else:
                self.pdf.add_font("cjk", style, str(path), collection_font_number=face.index)

    def style(self, size_pt: float, colour: tuple[int, int, int] = INK, bold: bool = False):
        self.pdf.set_font("cjk", "B" if bold and self.has_bold else "", size_pt)
        self.pdf.set_text_color(*colour)

    def text(self, s: str, size_pt: float = BODY_PT, colour=INK, bold=False, h=5.0, indent=0.0):
        from fpdf.enums import XPos, YPos

        self.style(size_pt, colour, bold)
        x = self.pdf.l_margin + indent
        self.pdf.set_x(x)
        self.pdf.multi_cell(
            self.pdf.epw - indent, h, s, new_x=XPos.LMARGIN, new_y=YPos.NEXT,
            wrapmode=self.wrap,
        )  # fmt: skip

    def heading(self, s: str) -> None:
        self.pdf.ln(3)
        if self.pdf.will_page_break(14):
            self.pdf.add_page()
        self.text(s, 12.5, INK, bold=True, h=7)
        y = self.pdf.get_y()
        self.pdf.set_draw_color(208, 215, 222)
        self.pdf.line(self.pdf.l_margin, y, self.pdf.w - self.pdf.r_margin, y)
        self.pdf.ln(1.5)

    def field(self, label: str, value: str, label_mm: float = 32.0) -> None:
        from fpdf.enums import XPos, YPos

        self.style(BODY_PT, MUTED)
        y = self.pdf.get_y()
        self.pdf.multi_cell(label_mm, 5, label, new_x=XPos.RIGHT, new_y=YPos.TOP,
                            wrapmode=self.wrap)  # fmt: skip
        self.style(BODY_PT, INK)
        self.pdf.multi_cell(self.pdf.epw - label_mm, 5, value, new_x=XPos.LMARGIN,
                            new_y=YPos.NEXT, wrapmode=self.wrap)  # fmt: skip
        self.pdf.set_y(max(self.pdf.get_y(), y + 5))

    def bar(self, verdict: str, y0: float, y1: float, width_mm: float = 1.6) -> None:
        self.pdf.set_fill_color(*COLOURS.get(verdict, MUTED))
        self.pdf.rect(self.pdf.l_margin, y0, width_mm, max(0.5, y1 - y0), style="F")


def _section(doc: _Doc, ev: Evidence, pictures: Path | None, heading: str | None) -> None:
    w = ev.words
    pdf = doc.pdf
    if heading:
        doc.text(heading, BODY_PT, MUTED)
    # The overall verdict: a coloured bar and border, the words in dark ink.
    y0 = pdf.get_y()
    doc.text(ev.overall_label, BODY_PT, MUTED, indent=5)
    doc.text(ev.verdict_label, 20, COLOURS.get(ev.verdict, INK), bold=True, h=9, indent=5)
    doc.text(f"{ev.file_name} · {ev.duration} · {ev.resolution}", BODY_PT, INK, indent=5)
    y1 = pdf.get_y() + 1
    pdf.set_draw_color(*COLOURS.get(ev.verdict, MUTED))
    pdf.rect(pdf.l_margin, y0 - 1, pdf.epw, y1 - y0 + 1)
    doc.bar(ev.verdict, y0 - 1, y1, 3)
    pdf.ln(3)

    doc.heading(w["requirements"])
    for r in ev.requirements:
        if pdf.will_page_break(14):
            pdf.add_page()
        y0 = pdf.get_y()
        doc.text(f"{r.label}：{r.verdict_label}" if ev.lang == "zh" else
                 f"{r.label}: {r.verdict_label}", 11, INK, bold=True, h=6, indent=4)  # fmt: skip
        for reason in r.reasons:
            times = reason.times
            if times:
                times = f"（{times}）" if ev.lang == "zh" else f" ({times})"
            line = f"• {reason.text}{times}"
            doc.text(line, BODY_PT, INK, indent=7)
        doc.bar(r.verdict, y0, pdf.get_y())
        pdf.ln(2)

    doc.heading(w["recording"])
    if ev.recorded_at:
        doc.field(w["recorded_at"], ev.recorded_at)
        doc.field(w["recorded_from"], ev.recorded_from or w["unknown"])
    else:
        doc.text(ev.recorded_note or w["not_trusted"])

    doc.heading(w["file"])
    doc.field(w["file_name"], ev.file_name)
    doc.field(w["file_size"], ev.file_size)
    doc.field(w["duration"], ev.duration)
    doc.field(w["resolution"], ev.resolution)
    doc.field(w["sha256"], ev.sha256)
    doc.text(w["sha256_help"], SMALL_PT, MUTED, indent=32)

    doc.heading(w["check"])
    doc.field(w["checked_at"], ev.checked_at)
    doc.field(w["tool"], ev.tool)
    doc.field(w["policy"], ev.policy)

    doc.heading(w["frames"])
    shown: list[tuple[Frame, Path]] = []
    for f in ev.frames if pictures is not None else []:
        path = picture_path(pictures, f.name) if pictures is not None else None
        if path is not None:
            shown.append((f, path))
    if not shown:
        doc.text(w["no_frames"], BODY_PT, MUTED)
        return
    cell_w = (pdf.epw - FRAME_GAP_MM * (FRAME_COLUMNS - 1)) / FRAME_COLUMNS
    for row in range(0, len(shown), FRAME_COLUMNS):
        items = shown[row : row + FRAME_COLUMNS]
        images = [_frame_size(p) for _, p in items]
        img_h = max(cell_w * hh / ww for ww, hh in images)
        if pdf.will_page_break(img_h + 12):
            pdf.add_page()
        y = pdf.get_y()
        for col, ((f, path), (ww, hh)) in enumerate(zip(items, images, strict=True)):
            x = pdf.l_margin + col * (cell_w + FRAME_GAP_MM)
            # The JPEG file itself: fpdf2 embeds it as it is (DCTDecode), a few tens of kB.
            pdf.image(str(path), x=x, y=y, w=cell_w, h=cell_w * hh / ww)
            pdf.set_xy(x, y + img_h + 1)
            doc.style(SMALL_PT, INK)
            cap = f"{f.caption} · {w['seconds'].format(s=f'{f.t_s:.1f}')}"
            pdf.multi_cell(cell_w, 4, cap, align="L")
        pdf.set_y(y + img_h + 10)


def render_pdf(
    reports: dict[str, Any] | Sequence[dict[str, Any]],
    lang: str = "zh",
    *,
    pictures: str | Path | None = None,
    checked_at: datetime | str | None = None,
) -> bytes:
    """The evidence report of one video's report (or of a case's several) as PDF bytes.

    ``pictures``: the folder holding the key frames the reports name (``report.json``'s
    folder, or the service's derived files); without it the frames are left out.
    ``checked_at``: when the check ran (the reports do not carry it).
    Raises ``FontMissing`` when no CJK font can be found.
    """
    items = [reports] if isinstance(reports, dict) else list(reports)
    if not items:
        raise ValueError("no report to render")
    evs = [evidence(r, lang, checked_at=checked_at) for r in items]
    fonts = find_fonts()
    folder = Path(pictures) if pictures is not None else None
    text = "".join(s for ev in evs for s in ev.strings()) + "•·：（）"
    w = evs[0].words
    with tempfile.TemporaryDirectory(prefix="evidence-font-") as scratch:
        doc = _Doc(fonts, text, Path(scratch), w["page"].replace("{total}", "{nb}"), lang)
        pdf = doc.pdf
        pdf.set_title(f"{w['title']} · {evs[0].file_name}")
        pdf.set_lang("zh-CN" if lang == "zh" else "en")
        if checked_at is not None:  # the same check gives the same file, byte for byte
            when = checked_at if isinstance(checked_at, datetime) else parse_time(checked_at)
            pdf.set_creation_date(when.astimezone(UTC))
        pdf.add_page()
        doc.text(w["title"], 18, INK, bold=True, h=9)
        doc.text(w["subtitle"], BODY_PT, MUTED)
        pdf.ln(4)
        for n, ev in enumerate(evs):
            if n:
                pdf.add_page()
            label = w["video_n"].format(n=n + 1, total=len(evs)) if len(evs) > 1 else None
            _section(doc, ev, folder, label)
        try:
            return bytes(pdf.output())
        finally:
            for font in pdf.fonts.values():  # fpdf2 reads its fonts lazily: close them
                ttfont = getattr(font, "ttfont", None)
                if ttfont is not None:
                    ttfont.close()


def case_pdf(
    folder: str | Path, lang: str = "zh", *, checked_at: datetime | str | None = None
) -> bytes:
    """The evidence PDF of a case's folder as ``check_case`` writes it (``report.json``
    and the pictures). ``checked_at`` defaults to ``report.json``'s modification time
    (it is written last, when the check ends)."""
    folder = Path(folder)
    report_file = folder / "report.json"
    case = json.loads(report_file.read_text("utf-8"))
    videos = [dict(v) for v in case.get("videos") or []]
    if not videos:
        raise ValueError(f"{report_file} has no checked video")
    if checked_at is None:
        checked_at = datetime.fromtimestamp(report_file.stat().st_mtime, tz=UTC)
    return render_pdf(videos, lang, pictures=folder, checked_at=checked_at)
