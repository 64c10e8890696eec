/* The chip behind the neuromorphic bridge in simavr: an SPI slave speaking the
 * chip bus (neuro_bridge/chip.h), emulated as simply as the firmware tests need.
 *
 * It keeps the chip's tables (biases per core, synapse slots per neuron) so the
 * configuration protocol and its read-back run for real, and its neurons do one
 * thing: each input event makes that neuron spike 1 ms (board time) later. So a
 * low-rate event stream goes in, comes back out with known timestamps, and the
 * firmware's whole path (queueing, timing, packing, watchdog) is on the MCU clock.
 * Lines on stdout (times: the emulated MCU clock in ns):
 *   IN <t_ns> <core> <neuron> <syn>   an input event reached the chip
 *   OUT <t_ns> <core> <neuron>        a neuron spiked (its output record is queued)
 * --chip-fault stuck-weight: bit 0 of every stored weight is stuck at 0 (a bad SRAM
 * cell), so a read-back of an odd weight shows the mismatch. */
#include "chip_neuro_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avr_spi.h"
#include "sim_cycle_timers.h"
#include "sim_time.h"

#include "../neuro_bridge/chip.h"
#include "../neuro_bridge/proto.h"

#define N_CORES 4
#define NPC 256
#define SLOTS 64
#define N_SYN 4
#define MAX_WEIGHT 15
#define OUT_RING 4096 /* bytes of the chip's outgoing stream */
#define PENDING 256   /* spikes waiting for their time */

static avr_t *avr;
static avr_irq_t *spi_in;
static uint8_t stuck_weight;
static uint8_t n_bias = 15; /* physres.neuro.config BIAS_NAMES, then the input weight */
static uint8_t bias[N_CORES][256][2];
static uint8_t *syn; /* [N_CORES * NPC][SLOTS][4] */
static uint8_t rec[16], rec_len, rec_want;
static uint8_t out[OUT_RING];
static uint16_t out_head, out_len;
static struct {
    uint32_t t_us;
    uint16_t addr;
} pending[PENDING];
static uint16_t n_pending;

static unsigned long long t_ns(void) { return (unsigned long long)avr_cycles_to_nsec(avr, avr->cycle); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) { return get16(p) | ((uint32_t)get16(p + 2) << 16); }

static void say(const uint8_t *p, uint16_t n)
{
    if (out_len + n > OUT_RING)
        return; /* the board is not reading: the chip drops (the board never sees it) */
    for (uint16_t i = 0; i < n; i++)
        out[(out_head + out_len++) % OUT_RING] = p[i];
}

static uint8_t payload_len(uint8_t type)
{
    switch (type) {
    case CHIP_WRITE_BIAS: return 4;
    case CHIP_READ_BIAS: return 2;
    case CHIP_WRITE_SYN: return 7;
    case CHIP_READ_SYN: return 4;
    case CHIP_EVENT: return 7;
    case CHIP_TIME: return 4;
    case CHIP_RESET: return 4;
    case CHIP_IDENTIFY: return 0;
    default: return 0xFF;
    }
}

static uint8_t *slot_at(uint16_t addr, uint8_t slot)
{
    uint16_t core = addr / NEURONS_PER_CORE_MAX, neuron = addr % NEURONS_PER_CORE_MAX;
    if (core >= N_CORES || neuron >= NPC || slot >= SLOTS)
        return NULL;
    return syn + (((size_t)core * NPC + neuron) * SLOTS + slot) * 4;
}

static void execute(uint8_t type, const uint8_t *p)
{
    switch (type) {
    case CHIP_WRITE_BIAS:
        if (p[0] < N_CORES && p[1] < n_bias) {
            bias[p[0]][p[1]][0] = p[2];
            bias[p[0]][p[1]][1] = p[3];
        }
        break;
    case CHIP_READ_BIAS: {
        uint8_t c = p[0] < N_CORES ? p[0] : 0;
        uint8_t r[5] = {CHIP_READ_BIAS, p[0], p[1], bias[c][p[1]][0], bias[c][p[1]][1]};
        say(r, sizeof r);
        break;
    }
    case CHIP_WRITE_SYN: {
        uint8_t *s = slot_at(get16(p), p[2]);
        if (s) {
            memcpy(s, p + 3, 4);
            if (stuck_weight)
                s[3] &= (uint8_t)~1u;
        }
        break;
    }
    case CHIP_READ_SYN: {
        uint8_t n = p[3] > CHIP_SYN_READ_MAX ? CHIP_SYN_READ_MAX : p[3];
        uint8_t r[5 + 4 * CHIP_SYN_READ_MAX] = {CHIP_READ_SYN, p[0], p[1], p[2], n};
        for (uint8_t i = 0; i < n; i++) {
            uint8_t *s = slot_at(get16(p), (uint8_t)(p[2] + i));
            if (s)
                memcpy(r + 5 + 4 * i, s, 4);
        }
        say(r, (uint16_t)(5 + 4 * n));
        break;
    }
    case CHIP_EVENT: {
        uint16_t addr = get16(p + 4);
        printf("IN %llu %u %u %u\n", t_ns(), addr / NEURONS_PER_CORE_MAX,
               addr % NEURONS_PER_CORE_MAX, p[6]);
        if (n_pending < PENDING) {
            pending[n_pending].t_us = get32(p) + 1000u;
            pending[n_pending].addr = addr;
            n_pending++;
        }
        break;
    }
    case CHIP_RESET: n_pending = 0; break;
    case CHIP_IDENTIFY: {
        uint8_t r[10] = {CHIP_IDENTIFY, CHIP_DYNAPSE, N_CORES, NPC & 0xFF, NPC >> 8,
                         SLOTS & 0xFF, SLOTS >> 8, N_SYN, MAX_WEIGHT, n_bias};
        say(r, sizeof r);
        break;
    }
    default: break; /* CHIP_TIME: this chip keeps the MCU's clock itself */
    }
}

/* One byte from the master; the answer is the byte it reads back. */
static void on_spi_byte(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    uint8_t b = (uint8_t)value, answer = CHIP_IDLE;
    if (rec_want == 0) {
        if (b == CHIP_CLOCK) {
            if (out_len) {
                answer = out[out_head];
                out_head = (uint16_t)((out_head + 1) % OUT_RING);
                out_len--;
            }
        } else if (payload_len(b) != 0xFF) {
            rec[0] = b;
            rec_len = 0;
            rec_want = payload_len(b);
            if (rec_want == 0)
                execute(b, rec + 1);
        }
    } else {
        rec[1 + rec_len++] = b;
        if (rec_len == rec_want) {
            rec_want = 0;
            execute(rec[0], rec + 1);
        }
    }
    avr_raise_irq(spi_in, answer);
}

/* MCU time in board µs (Timer1 starts within a few µs of reset: close enough here) */
static avr_cycle_count_t fire(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)param;
    uint32_t now_us = (uint32_t)(avr_cycles_to_nsec(a, a->cycle) / 1000u);
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n_pending; i++) {
        if ((int32_t)(now_us - pending[i].t_us) >= 0) {
            uint16_t addr = pending[i].addr;
            uint8_t r[7] = {CHIP_OUTPUT,
                            (uint8_t)pending[i].t_us,
                            (uint8_t)(pending[i].t_us >> 8),
                            (uint8_t)(pending[i].t_us >> 16),
                            (uint8_t)(pending[i].t_us >> 24),
                            (uint8_t)addr,
                            (uint8_t)(addr >> 8)};
            printf("OUT %llu %u %u\n", t_ns(), addr / NEURONS_PER_CORE_MAX,
                   addr % NEURONS_PER_CORE_MAX);
            say(r, sizeof r);
        } else {
            pending[kept++] = pending[i];
        }
    }
    n_pending = kept;
    return when + avr_usec_to_cycles(a, 100);
}

int neuro_chip_option(const char *opt, const char *value)
{
    if (!strcmp(opt, "--chip-fault") && !strcmp(value, "stuck-weight"))
        stuck_weight = 1;
    else if (!strcmp(opt, "--chip-biases") && atoi(value) > 0 && atoi(value) <= 255)
        n_bias = (uint8_t)atoi(value);
    else
        return 0;
    return 1;
}

int neuro_chip_attach(avr_t *a)
{
    avr = a;
    syn = calloc((size_t)N_CORES * NPC * SLOTS, 4);
    if (!syn)
        return -1;
    avr_irq_t *mosi = avr_io_getirq(a, AVR_IOCTL_SPI_GETIRQ(0), SPI_IRQ_OUTPUT);
    spi_in = avr_io_getirq(a, AVR_IOCTL_SPI_GETIRQ(0), SPI_IRQ_INPUT);
    if (!mosi || !spi_in)
        return -1;
    avr_irq_register_notify(mosi, on_spi_byte, NULL);
    avr_cycle_timer_register_usec(a, 100, fire, NULL);
    return 0;
}
