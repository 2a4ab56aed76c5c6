/* The byte-level BPE kernel of _bpe.c compiled again with AVX-512BW (setup.py adds the -m flags): a 64-byte block's
 * byte classes come from one compare each straight into 64-bit masks instead of four 16-byte SSE2 passes, about
 * 12 % less time per piece on code. kernels/__init__.py loads it instead of _bpe where _bpe.cpu_has_avx512() says
 * the CPU runs it; TOKENLAB_KERNEL_ISA=baseline keeps _bpe. Same ids (tests compare the two builds). */
#define BPE_MODULE_NAME "_bpe_avx512"
#define BPE_MODULE_INIT PyInit__bpe_avx512
#include "_bpe.c"
