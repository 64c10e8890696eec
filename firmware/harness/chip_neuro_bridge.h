/* The neuromorphic bridge's chip as an SPI slave in simavr (see the .c file). */
#ifndef HARNESS_CHIP_NEURO_BRIDGE_H
#define HARNESS_CHIP_NEURO_BRIDGE_H
#include "sim_avr.h"

/* Take one "--chip-..." option and its value; 0 when it is not one. */
int neuro_chip_option(const char *opt, const char *value);
/* Hang the chip on the MCU's SPI; 0 on success. */
int neuro_chip_attach(avr_t *avr);

#endif
