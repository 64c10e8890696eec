/* The chip bus: what the bridge says to the neuromorphic chip behind it.
 *
 * Fixed-size little-endian records, each starting with a type byte; the same
 * bytes travel over a socket to the emulator process in the host build and
 * over SPI to the chip model of the simavr harness (firmware/PROTOCOL.md,
 * "Chip bus"). Board -> chip:
 *   'B' core u8, index u8, coarse u8, fine u8        write one bias
 *   'b' core u8, index u8                            read it back -> 'b' + the same 4 bytes
 *   'S' target u16, slot u8, src u16, type u8, weight u8   write one synapse slot
 *   's' target u16, first u8, n u8                   read n slots -> 's' target first n + n x (src u16 type u8 weight u8)
 *   'E' t_us u32, addr u16, syn u8                   an input event, sent when it is due
 *   'T' t_us u32                                     time beacon: the chip may run up to t
 *   'R' t_us u32                                     reset neuron state (configuration kept)
 *   'I'                                              identify -> 'I' model u8, n_cores u8, neurons_per_core u16, slots u16, n_syn u8, max_weight u8, n_bias u8
 * Chip -> board:
 *   'O' t_us u32, addr u16                           an output spike at board time t
 *   0x00                                             nothing to say (SPI idle byte)
 * Every read answers in order; output records may come before the answer. */
#ifndef NEURO_BRIDGE_CHIP_H
#define NEURO_BRIDGE_CHIP_H

#define CHIP_WRITE_BIAS 'B'
#define CHIP_READ_BIAS 'b'
#define CHIP_WRITE_SYN 'S'
#define CHIP_READ_SYN 's'
#define CHIP_EVENT 'E'
#define CHIP_TIME 'T'
#define CHIP_RESET 'R'
#define CHIP_IDENTIFY 'I'
#define CHIP_OUTPUT 'O'
#define CHIP_IDLE 0x00
/* SPI: the byte the master clocks out to read one byte of the chip's stream */
#define CHIP_CLOCK 0xFF
/* most slots one 's' read returns */
#define CHIP_SYN_READ_MAX 16

#endif
