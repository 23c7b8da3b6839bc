// glibc's malloc extensions (malloc_trim) for returning freed heap memory to the system.
#include <malloc.h>
