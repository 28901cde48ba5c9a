# Writes the files packed into tests/data/deflate64.zip (see tests/data/README.md).
import os
import random

rng = random.Random(20261123)
block = bytes(rng.choice(b"ACGT") for _ in range(40_000))  # repeats 40 KB apart: Deflate64's window
os.makedirs("src/c", exist_ok=True)
with open("src/zarr.json", "w") as f:
    f.write('{"zarr_format": 3, "node_type": "group", "attributes": {"made_by": "7z"}}\n')
with open("src/c/0", "wb") as f:
    f.write(block * 5)
with open("src/c/1", "wb") as f:
    f.write(bytes(range(256)) * 64)
