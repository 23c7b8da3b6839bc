// OpenBLAS CBLAS interface (pkg-config openblas). openblas_set_num_threads is OpenBLAS-specific.
#include <cblas.h>
