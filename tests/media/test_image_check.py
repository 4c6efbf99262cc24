"""`sop check` (which checks channels.yaml too) refuses pictures WeCom would not show.

Against the real WeCom an outside URL is refused, with file:line; a local picture that is
missing or over 2 MB is refused wherever the bot runs. The command is run as operators run
it, on a copy of the shipped files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from tests.conftest import REPO
from tests.sop.test_sop_preview import ROBOT_KEYS, cli

CDN = "https://cdn.guotian.example/banners/stores.jpg"


def copy_files(tmp_path: Path) -> Path:
    sop = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop)
    return sop


def config(tmp_path: Path, sop: Path, api: str | None = None) -> Path:
    path = tmp_path / "config.toml"
    wecom = f'[wecom]\napi_base_url = "{api}"\n\n' if api else ""
    path.write_text(f'{wecom}[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n\n'
                    f'[paths]\nsop_dir = "{sop}"\ntemplates_dir = "{REPO / "templates"}"\n',
                    encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i + 1 for i, line in enumerate(lines)
                if needle in line and not line.lstrip().startswith("#"))


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_files_pass_against_the_real_wecom(tmp_path: Path):
    result = cli("check", "--config", str(config(tmp_path, copy_files(tmp_path))),
                 env=ROBOT_KEYS)
    assert result.returncode == 0, result.stdout


def test_outside_url_refused_against_the_real_wecom_with_file_line(tmp_path: Path):
    sop = copy_files(tmp_path)
    channels = sop / "channels.yaml"
    replace(channels, "picurl: images/banners/stores.png", f"picurl: {CDN}")
    replace(channels, "picurl: images/banners/fruit-day.png",
            "picurl: https://p.qpic.cn/pic_wework/3474110808/7a7c8471673ff0f1/0")
    result = cli("check", "--config", str(config(tmp_path, sop)), env=ROBOT_KEYS)
    assert result.returncode == 1
    line = line_of(channels, CDN)
    problems = [x for x in result.stdout.splitlines() if "channels.yaml" in x]
    assert problems == [
        f"{channels}:{line}:19: channels.takeout-card: link picurl: {CDN} is not hosted by "
        f"WeCom, which shows only pictures it hosts: save the picture under {sop} and name "
        "the file instead (the bot uploads it once)"]  # the qpic.cn one passes

    # the same files against the local simulator: its own picture host stands for WeCom's
    local = cli("check", "--config",
                str(config(tmp_path, sop, "http://127.0.0.1:9/cgi-bin/")), env=ROBOT_KEYS)
    assert local.returncode == 0, local.stdout


def test_missing_and_oversized_pictures_refused_with_file_line(tmp_path: Path):
    sop = copy_files(tmp_path)
    replace(sop / "data/flash_sale.yaml", "images/flash/durian.png", "images/flash/durain.png")
    big = sop / "images/products/pear-korla.png"
    Image.effect_noise((1200, 1200), 90).convert("RGB").save(big, "PNG")  # noise: no squeeze
    assert big.stat().st_size > 2 * 1024 * 1024
    result = cli("check", "--config", str(config(tmp_path, sop)), env=ROBOT_KEYS)
    assert result.returncode == 1
    daily = sop / "daily.yaml"
    flash_line = line_of(daily, '{{ data.days[weekday].photo }}')
    new_line = line_of(daily, "image: {pic_url: \"{{ item.photo }}\"}")
    out = result.stdout
    assert (f"{daily}:{flash_line}:26: sops.flash-sale: attachments[0]: image pic_url: image "
            f"file images/flash/durain.png not found under {sop}") in out
    assert (f"{daily}:{new_line}:26: sops.morning-new-arrivals: attachments[0]: image pic_url: "
            f"image images/products/pear-korla.png is {big.stat().st_size:,} bytes; WeCom "
            "takes pictures up to 2,097,152 bytes (2 MB): make it smaller") in out
