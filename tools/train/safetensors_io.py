"""Minimal safetensors reader and writer (the format: 8-byte little-endian header length, a JSON header
of name -> dtype/shape/data_offsets, then the raw little-endian tensor bytes)."""
import json
import struct

import torch

DTYPES = {'BF16': torch.bfloat16, 'F16': torch.float16, 'F32': torch.float32, 'F64': torch.float64}
NAMES = {v: k for k, v in DTYPES.items()}


def write(path, tensors, metadata=None):
    """tensors: {name: tensor}, written in their own dtype, names sorted like the Python library does."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in NAMES:
            raise ValueError(f'{name}: dtype {t.dtype} not supported')
        # Reinterpret as bytes through a same-width integer type (numpy has no bfloat16).
        raw = t.view(torch.int16 if t.element_size() == 2 else torch.int32 if t.element_size() == 4 else torch.int64)
        data = raw.numpy().astype(raw.numpy().dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header['__metadata__'] = metadata or {'format': 'pt'}
    head = json.dumps(header, separators=(',', ':')).encode('utf-8')
    head += b' ' * (-len(head) % 8)  # the data section starts 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)


def read(path):
    """{name: tensor} in the file's dtypes."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == '__metadata__':
            continue
        a, b = h['data_offsets']
        dtype = DTYPES[h['dtype']]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtype) if b > a else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(h['shape'])
    return out
