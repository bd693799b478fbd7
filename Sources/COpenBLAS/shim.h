// The CPU path's GEMM: OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
#include <cblas.h>
