/* encode-corpus's line encoder (_corpus.c) with the AVX-512BW build of the encoder (see _bpe_avx512.c); loaded
 * instead of _corpus where kernels.bpe is the AVX-512 build. */
#define CORPUS_MODULE_NAME "_corpus_avx512"
#define CORPUS_MODULE_INIT PyInit__corpus_avx512
#include "_corpus.c"
