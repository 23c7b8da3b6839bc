// libFuzzer's driver entry (compiler-rt FuzzerInterface.h): SwiftPM names an executable target's entry point
// `<Target>_main`, so each fuzz target defines that and hands its callback to libFuzzer here.
#ifndef UNCLIP_FUZZ_DRIVER_H
#define UNCLIP_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// Runs libFuzzer with the command line and the target's callback.
int unclip_fuzz_main(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));
#endif
