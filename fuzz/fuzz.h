/*
 * fuzz.h — the one entry point every harness in fuzz/ defines. With libFuzzer
 * (make fuzz) it is driven by the fuzzer; in the normal build replay_main.c
 * feeds it every file of the harness's committed corpus, so CI replays every
 * input that ever crashed.
 */
#ifndef RINGFENCE_FUZZ_H
#define RINGFENCE_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
