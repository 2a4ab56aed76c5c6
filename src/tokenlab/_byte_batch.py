"""Padded uint8 batches straight from the texts' own UTF-8 buffers (numba, CPython only).

Joining and re-encoding a batch in Python costs more than the byte copies themselves, and numba's
list unboxing costs ~100 ns per string. So the kernel takes the list's address and reads each str's
UTF-8 buffer through the C API (``PyList_GetItem`` + ``PyUnicode_AsUTF8AndSize``, as PyO3-based
tokenizers do): ASCII strings are copied from their own storage, others from the UTF-8 copy CPython
caches on the string. The GIL is held for the whole call (no ``nogil``), so the list cannot change.
"""

from __future__ import annotations

import sys

import numpy as np

try:
    from ._jit import njit, require_numba

    require_numba()  # numba is imported (and its cache set up) by tokenlab._jit only
    from llvmlite import ir
    from numba import carray, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    HAVE_NATIVE = sys.implementation.name == "cpython"
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NATIVE = False

OK = -1  # status: no text failed


if HAVE_NATIVE:
    _PAIR = types.UniTuple(types.intp, 2)

    @intrinsic
    def _utf8_of_item(typingctx, list_address, index):
        """(address, size) of item ``index``'s UTF-8 bytes; address 0 if it is not an encodable str."""

        def codegen(context, builder, signature, args):
            address, position = args
            ssize = context.get_value_type(types.intp)
            obj = ir.IntType(8).as_pointer()
            module = builder.module
            get_item = cgutils.get_or_insert_function(
                module, ir.FunctionType(obj, [obj, ssize]), "PyList_GetItem")
            as_utf8 = cgutils.get_or_insert_function(
                module, ir.FunctionType(obj, [obj, ssize.as_pointer()]), "PyUnicode_AsUTF8AndSize")
            clear = cgutils.get_or_insert_function(module, ir.FunctionType(ir.VoidType(), []), "PyErr_Clear")
            item = builder.call(get_item, [builder.inttoptr(address, obj), position])  # borrowed
            size = cgutils.alloca_once_value(builder, ssize(0))
            data = builder.call(as_utf8, [item, size])
            with builder.if_then(cgutils.is_null(builder, data), likely=False):
                builder.call(clear, [])  # the caller reports which text failed and why
            return context.make_tuple(builder, signature.return_type,
                                      [builder.ptrtoint(data, ssize), builder.load(size)])

        return _PAIR(types.intp, types.intp), codegen

    @intrinsic
    def _byte_pointer(typingctx, address):
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

        return types.CPointer(types.uint8)(types.intp), codegen

    @intrinsic
    def _copy(typingctx, destination, source, size):
        """memcpy: numba's slice assignment from a carray copies byte by byte."""

        def codegen(context, builder, signature, args):
            byte_pointer = ir.IntType(8).as_pointer()
            cgutils.raw_memcpy(builder, builder.inttoptr(args[0], byte_pointer),
                               builder.inttoptr(args[1], byte_pointer), args[2], 1)
            return context.get_dummy_value()

        return types.void(types.intp, types.intp, types.intp), codegen

    @intrinsic
    def _fill(typingctx, destination, value, size):
        def codegen(context, builder, signature, args):
            byte_pointer = ir.IntType(8).as_pointer()
            memset = builder.module.declare_intrinsic("llvm.memset", [byte_pointer, args[2].type])
            builder.call(memset, [builder.inttoptr(args[0], byte_pointer), builder.trunc(args[1], ir.IntType(8)),
                                  args[2], ir.Constant(ir.IntType(1), 0)])
            return context.get_dummy_value()

        return types.void(types.intp, types.intp, types.intp), codegen

    @njit(cache=True)
    def _fill_padded(list_address, n, n_special, budget, fixed_width, left, check_control, is_control):
        """(ids, mask, failed text, first text with a control byte); -1 where none."""
        addresses = np.empty(n, np.intp)
        sizes = np.empty(n, np.intp)
        for i in range(n):
            address, size = _utf8_of_item(list_address, i)
            if address == 0:
                return np.zeros((0, 0), np.uint8), np.zeros((0, 0), np.bool_), i, OK
            addresses[i] = address
            sizes[i] = size
        if check_control:
            for i in range(n):
                text = carray(_byte_pointer(addresses[i]), sizes[i])
                for j in range(sizes[i]):
                    if is_control[text[j]]:
                        return np.zeros((0, 0), np.uint8), np.zeros((0, 0), np.bool_), OK, i
        width = fixed_width
        if width < 0:
            width = 0
            for i in range(n):
                size = sizes[i] if budget < 0 else min(sizes[i], budget)
                width = max(width, size + n_special)
        ids = np.zeros((n, width), np.uint8)
        mask = np.zeros((n, width), np.bool_)
        flat_ids = ids.reshape(-1)
        ids_base = ids.ctypes.data
        mask_base = mask.ctypes.data
        for i in range(n):
            size = sizes[i] if budget < 0 else min(sizes[i], budget)
            keep = size + n_special
            start = i * width + (width - keep if left else 0)
            _fill(mask_base + start, 1, keep)
            if n_special:
                flat_ids[start] = 2  # BOS
                flat_ids[start + keep - 1] = 3  # EOS (after the cut when truncated)
                start += 1
            _copy(ids_base + start, addresses[i], size)
        return ids, mask, OK, OK


def fill_padded(texts: list, n_special: int, budget: int | None, fixed_width: int | None, left: bool,
                is_control: np.ndarray | None):
    """Padded ids and mask of ``texts`` (a list), or the index of a failed text / one with a control byte."""
    check = is_control is not None
    return _fill_padded(id(texts), len(texts), n_special, -1 if budget is None else budget,
                        -1 if fixed_width is None else fixed_width, left, check,
                        is_control if check else _NO_CONTROL)


_NO_CONTROL = np.zeros(256, dtype=np.bool_)
