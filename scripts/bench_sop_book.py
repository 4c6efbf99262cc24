"""How long the SOP book takes to load (check, compile, test-render) for a chain of N stores.

The bot loads the book at start and on every reload after an operator's edit, so this is
how long an edit takes to go live and how long a start waits. The shipped `sop/` and
`templates/` are used as they are; only stores.yaml is replaced by N generated stores (the
shipped stores keep their ids, so per-store data entries still apply).

    python scripts/bench_sop_book.py [--stores 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CITIES = [("上海", "徐汇区"), ("上海", "静安区"), ("杭州", "西湖区"), ("苏州", "姑苏区"),
          ("南京", "鼓楼区"), ("宁波", "鄞州区")]


def write_stores(path: Path, n: int) -> None:
    from bot.books.stores import StoreDirectory

    shipped = StoreDirectory.load(REPO / "sop" / "stores.yaml")
    ids = [s.id for s in shipped.all()]
    ids += [f"{i:04d}" for i in range(10_000) if f"{i:04d}" not in set(ids)][:max(n - len(ids), 0)]
    lines = ["stores:"]
    for store_id in sorted(ids[:n]):
        city, district = CITIES[int(store_id) % len(CITIES)]
        lines += [f'  "{store_id}":', f"    name: 果园{store_id}店", f"    city: {city}",
                  f"    district: {district}",
                  f"    address: {district}果园路 {int(store_id) + 1} 号",
                  f"    manager_userid: m{store_id}", f"    manager_name: 店长{store_id}",
                  f"    group_name: 果田鲜生·果园{store_id}店福利群",
                  '    opens: "08:00"', '    closes: "22:00"']
    path.write_text("\n".join(lines) + "\n", "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from bot.books.stores import StoreDirectory
    from bot.books.templating import TemplateLibrary
    from bot.sop.book import SopBook

    with tempfile.TemporaryDirectory() as tmp:
        sop_dir = Path(tmp) / "sop"
        shutil.copytree(REPO / "sop", sop_dir)
        write_stores(sop_dir / "stores.yaml", args.stores)
        stores = StoreDirectory.load(sop_dir / "stores.yaml")
        times, cpu = [], []
        for _ in range(args.repeat):
            started, used = time.perf_counter(), time.process_time()
            book = SopBook.load(sop_dir, TemplateLibrary(REPO / "templates"), stores)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
        renders = getattr(book, "checked_renders", 0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"SOP book: {len(book.names())} SOPs, {len(stores.all()):,} stores, "
          f"{renders:,} test renders")
    print(f"load: median {statistics.median(times):.2f} s, best {min(times):.2f} s "
          f"over {args.repeat} loads (CPU: median {statistics.median(cpu):.2f} s, a shared "
          f"machine's wall time is mostly waiting); peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
