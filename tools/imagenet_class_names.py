"""Regenerate stylegan/data/imagenet_classes.txt from torchvision's ImageNet-1k model metadata.

torchvision (BSD-3-Clause) ships the 1000 class names in index order with its pretrained-model metadata.
The file has one name per line; line i is class i. Run: `python tools/imagenet_class_names.py`.
"""

from pathlib import Path

from torchvision.models._meta import _IMAGENET_CATEGORIES

DESTINATION = Path(__file__).resolve().parents[1] / "stylegan" / "data" / "imagenet_classes.txt"


def main() -> None:
    names = list(_IMAGENET_CATEGORIES)
    if len(names) != 1000:
        raise SystemExit(f"expected 1000 ImageNet classes from torchvision, found {len(names)}")
    DESTINATION.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    print(f"wrote {len(names)} names to {DESTINATION}")


if __name__ == "__main__":
    main()
