"""WeCom's moment limits, refused when the SOP files load, with file:line: text length,
attachments mixed or too many, a video too long or too large, groups as the audience."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.moments.plan import moment_body
from bot.sop.model import MemberSelect
from bot.wecom.moments import mp4_duration_s
from tests.conftest import REPO
from tests.sop.test_sop_files import MONDAY, at, load, problems, write


def box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def mp4(seconds: float, pad: int = 0) -> bytes:
    """A minimal MP4: ftyp, then moov/mvhd saying how long it is (timescale 1000)."""
    mvhd = bytes(12) + (1000).to_bytes(4, "big") + int(seconds * 1000).to_bytes(4, "big")
    return (box(b"ftyp", b"isom" + bytes(4) + b"isommp41")
            + box(b"moov", box(b"mvhd", mvhd + bytes(80))) + box(b"mdat", bytes(pad)))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    sop = tmp_path / "sop"
    (sop / "images").mkdir(parents=True)
    for name in ("stores.yaml", "robots.yaml", "groups.yaml"):
        shutil.copy(REPO / "sop" / name, sop / name)
    for name in ("apple-akesu.png", "kiwi-zespri-gold.png"):
        shutil.copy(REPO / "sop" / "images" / "products" / name, sop / "images" / name)
    (sop / "videos").mkdir()
    (sop / "videos" / "short.mp4").write_bytes(mp4(20.0))
    (sop / "videos" / "long.mp4").write_bytes(mp4(45.0))
    (sop / "videos" / "big.mp4").write_bytes(mp4(10.0, pad=11 * 1024 * 1024))
    write(tmp_path, "templates/sop/hello.j2", "{{ store.name }}今天到了新果子")
    write(tmp_path, "templates/sop/long.j2",
          "{% for i in range(251) %}鲜果每天到店好吃{% endfor %}")
    return tmp_path


def test_mp4_length_is_read_from_its_header() -> None:
    assert mp4_duration_s(mp4(29.5)) == 29.5
    assert mp4_duration_s(b"not a video") is None


def test_a_good_moment_loads_with_its_staff_and_audience(files: Path) -> None:
    write(files, "sop/moments.yaml", """
        sops:
          m:
            at: "10:00"
            via: moment
            template: sop/hello.j2
            to: {members: {tags: [会员等级/金卡会员]}}
            attachments:
              - video: {media_id: videos/short.mp4}
    """)
    book = load(files)
    sop = book.get("m")
    assert sop.via == "moment" and isinstance(sop.target, MemberSelect)
    message = book.render("m", "0012", at(MONDAY, 10, 0))
    body = moment_body(message.text, message.attachments, ["linxiaoyu"], ["et-gold"])
    assert body == {
        "text": {"content": "天钥桥路店今天到了新果子"},
        "attachments": [{"msgtype": "video", "video": {"media_id": "videos/short.mp4"}}],
        "visible_range": {"sender_list": {"user_list": ["linxiaoyu"]},
                          "external_contact_list": {"tag_list": ["et-gold"]}}}


def test_wecoms_moment_limits_are_refused_with_file_and_line(files: Path) -> None:
    images = "\n".join("              - image: {pic_url: images/apple-akesu.png}"
                       for _ in range(10))
    write(files, "sop/moments.yaml", f"""
        sops:
          mixed:
            at: "10:00"
            via: moment
            template: sop/hello.j2
            attachments:
              - image: {{pic_url: images/apple-akesu.png}}
              - link: {{title: 新品, url: "https://m.guotian.example/new"}}
          ten:
            at: "10:00"
            via: moment
            template: sop/hello.j2
            attachments:
{images}
          long-video:
            at: "10:00"
            via: moment
            template: sop/hello.j2
            attachments:
              - video: {{media_id: videos/long.mp4}}
          big-video:
            at: "10:00"
            via: moment
            template: sop/hello.j2
            attachments:
              - video: {{media_id: videos/big.mp4}}
          to-groups:
            at: "10:00"
            via: moment
            template: sop/hello.j2
            to: {{groups: {{stores: all}}}}
          video-in-a-group-send:
            at: "10:00"
            to: {{groups: {{stores: all}}}}
            template: sop/hello.j2
            attachments:
              - video: {{media_id: videos/short.mp4}}
    """)
    assert problems(files) == [
        "sop/moments.yaml:8:9: sops.mixed: a moment cannot mix image and link (WeCom: "
        "'invalid attachments msgtype'): up to 9 images, or one video, or one link",
        "sop/moments.yaml:13:5: sops.ten.attachments: at most 9 allowed, found 10",
        "sop/moments.yaml:29:27: sops.long-video: video videos/long.mp4 is 45.0 s long, "
        "WeCom allows 30 s",
        "sop/moments.yaml:35:27: sops.big-video: video videos/big.mp4 is 11,534,484 bytes, "
        "WeCom allows 10,485,760 (10 MB)",
        "sop/moments.yaml:40:10: sops.to-groups: via: moment is posted by each store's staff "
        "to their 客户朋友圈, not into groups: choose who sees it with to: {members: {tags: "
        "[...]}}, or leave out 'to' for all customers",
        "sop/moments.yaml:45:5: sops.video-in-a-group-send: a video is sent only via: moment "
        "(客户朋友圈)",
    ]


def test_a_moment_text_over_2000_characters_is_refused(files: Path) -> None:
    write(files, "sop/moments.yaml", """
        sops:
          long-text:
            at: "10:00"
            via: moment
            template: sop/long.j2
    """)
    [problem] = problems(files)
    assert problem.startswith("sop/moments.yaml:5:15: sops.long-text: sop/long.j2: the moment "
                              "text is 2008 characters, WeCom allows 2000"), problem
