//! Jitter buffer tests on a simulated network: a sender clock, a seeded
//! delay/loss/duplication model, and a caller popping on a 20 ms timer.

use std::collections::{HashMap, HashSet};

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::*;

const MS: Duration = Duration::from_millis(1);
const FRAME: Duration = Duration::from_millis(20);

/// One packet of the simulated stream; its payload is `n` big-endian.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    n: u32,
    seq: u16,
    ts: u32,
    send: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Duration,
    pkt: Pkt,
    /// A network duplicate of an earlier copy.
    copy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Packet(u32),
    Missing(u32),
    Empty,
}

#[derive(Debug, Clone, Copy)]
struct Tick {
    /// When the caller called `pop`.
    at: Duration,
    out: Out,
    delay: Option<Duration>,
    target: Duration,
}

/// `count` packets of 20 ms at 8 kHz; `ppm` > 0 is a sender clock running
/// fast by that many parts per million (it sends more often, in our time).
fn stream(count: u32, seq0: u16, ts0: u32, ppm: f64) -> Vec<Pkt> {
    (0..count)
        .map(|n| Pkt {
            n,
            seq: seq0.wrapping_add(n as u16),
            ts: ts0.wrapping_add(160 * n),
            send: Duration::from_secs_f64(0.020 * n as f64 / (1.0 + ppm * 1e-6)),
        })
        .collect()
}

/// Runs packets through a network: `delays` gives each copy's one-way delay
/// (empty = lost, two = duplicated). Returns arrivals in time order.
fn deliver(pkts: &[Pkt], mut delays: impl FnMut(&Pkt) -> Vec<Duration>) -> Vec<Arrival> {
    let mut arrivals: Vec<Arrival> = pkts
        .iter()
        .flat_map(|p| {
            let copies = delays(p);
            copies.into_iter().enumerate().map(move |(i, d)| Arrival {
                at: p.send + d,
                pkt: *p,
                copy: i > 0,
            })
        })
        .collect();
    arrivals.sort_by_key(|a| (a.at, a.pkt.n, a.copy));
    arrivals
}

struct Sim {
    t0: Instant,
    jb: JitterBuffer,
    pkts: HashMap<u16, Pkt>,
    arrivals: Vec<Arrival>,
    next_arrival: usize,
    pushed: Vec<(Arrival, Pushed)>,
    ticks: Vec<Tick>,
}

impl Sim {
    fn new(cfg: JitterConfig, pkts: &[Pkt], arrivals: Vec<Arrival>) -> Sim {
        Sim {
            t0: testkit::FakeClock::new().now(),
            jb: JitterBuffer::new(cfg),
            pkts: pkts.iter().map(|p| (p.seq, *p)).collect(),
            arrivals,
            next_arrival: 0,
            pushed: Vec::new(),
            ticks: Vec::new(),
        }
    }

    /// The caller wakes up at `at`: reads the socket, then plays every due tick.
    fn call(&mut self, at: Duration) {
        while let Some(a) = self.arrivals.get(self.next_arrival).filter(|a| a.at <= at) {
            let a = *a;
            self.next_arrival += 1;
            let pushed = self
                .jb
                .push(self.t0 + a.at, a.pkt.seq, a.pkt.ts, &a.pkt.n.to_be_bytes());
            self.pushed.push((a, pushed));
        }
        loop {
            let out = match self.jb.pop(self.t0 + at) {
                None => break,
                Some(Popped::Packet {
                    sequence_number,
                    timestamp,
                    payload,
                }) => {
                    let n = u32::from_be_bytes(payload.try_into().unwrap());
                    let p = self.pkts[&sequence_number];
                    assert_eq!((p.n, p.ts), (n, timestamp), "payload matches its header");
                    Out::Packet(n)
                }
                Some(Popped::Missing {
                    sequence_number,
                    timestamp,
                }) => {
                    let p = self.pkts[&sequence_number];
                    assert_eq!(p.ts, timestamp, "concealed frame's timestamp");
                    Out::Missing(p.n)
                }
                Some(Popped::Empty) => Out::Empty,
            };
            self.ticks.push(Tick {
                at,
                out,
                delay: self.jb.current_delay(),
                target: self.jb.target_delay(),
            });
        }
    }

    /// Calls every `period` from `phase` until `until`.
    fn run(&mut self, phase: Duration, period: Duration, until: Duration) {
        let mut at = phase;
        while at <= until {
            self.call(at);
            at += period;
        }
    }

    fn outs(&self) -> Vec<Out> {
        self.ticks
            .iter()
            .map(|t| t.out)
            .filter(|o| *o != Out::Empty)
            .collect()
    }

    fn played(&self) -> Vec<u32> {
        self.ticks
            .iter()
            .filter_map(|t| match t.out {
                Out::Packet(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    fn stats(&self) -> &JitterStats {
        self.jb.stats()
    }
}

fn cfg() -> JitterConfig {
    JitterConfig::new(8000)
}

#[test]
fn in_order_stream_plays_in_order_with_constant_latency_across_wraparound() {
    // Sequence numbers and timestamps both wrap during the call.
    let pkts = stream(500, 65_400, u32::MAX - 8_000, 0.0);
    let arrivals = deliver(&pkts, |_| vec![MS * 50]);
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 7, FRAME, Duration::from_secs(11));
    assert_eq!(sim.outs(), (0..500).map(Out::Packet).collect::<Vec<_>>());
    // Latency from send to playout is the same for every packet.
    let latencies: HashSet<Duration> = sim
        .ticks
        .iter()
        .filter_map(|t| match t.out {
            Out::Packet(n) => Some(t.at - pkts[n as usize].send),
            _ => None,
        })
        .collect();
    assert_eq!(latencies.len(), 1, "{latencies:?}");
    let latency = *latencies.iter().next().unwrap();
    // 50 ms network + about the 40 ms minimum target (held to within half a frame).
    assert!(latency >= MS * 80 && latency < MS * 110, "{latency:?}");
    // No Empty between the first and the last frame.
    let first = sim.ticks.iter().position(|t| t.out != Out::Empty).unwrap();
    assert!(sim.ticks[first..first + 500]
        .iter()
        .all(|t| t.out != Out::Empty));
    let s = sim.stats();
    assert_eq!(
        (s.frames_emitted, s.frames_concealed, s.packets_late),
        (500, 0, 0)
    );
    assert_eq!(
        s.frames_removed_for_acceleration + s.frames_inserted_for_deceleration,
        0
    );
    assert!(sim.jb.is_empty());
}

#[test]
fn reordering_within_the_depth_is_repaired() {
    let pkts = stream(400, 1000, 0, 0.0);
    // Every even packet takes 25 ms longer and overtakes nothing: it is
    // overtaken by its odd successor.
    let arrivals = deliver(&pkts, |p| {
        vec![MS * (40 + if p.n % 2 == 0 { 25 } else { 0 })]
    });
    let inversions = arrivals
        .windows(2)
        .filter(|w| w[1].pkt.n < w[0].pkt.n)
        .count();
    assert!(inversions >= 199, "the network must reorder: {inversions}");
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 3, FRAME, Duration::from_secs(9));
    assert_eq!(sim.outs(), (0..400).map(Out::Packet).collect::<Vec<_>>());
    assert_eq!(sim.stats().packets_late, 0);
}

#[test]
fn five_percent_loss_yields_exactly_the_missing_slots() {
    let mut rng = StdRng::seed_from_u64(5);
    let pkts = stream(2000, 20_000, 12_345, 0.0);
    let lost: HashSet<u32> = (1..1999).filter(|_| rng.gen_bool(0.05)).collect();
    assert!(lost.len() > 60 && lost.len() < 140, "{}", lost.len());
    let arrivals = deliver(&pkts, |p| {
        if lost.contains(&p.n) {
            vec![]
        } else {
            vec![MS * 60]
        }
    });
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 13, FRAME, Duration::from_secs(41));
    let expected: Vec<Out> = (0..2000)
        .map(|n| {
            if lost.contains(&n) {
                Out::Missing(n)
            } else {
                Out::Packet(n)
            }
        })
        .collect();
    assert_eq!(sim.outs(), expected);
    assert_eq!(sim.stats().frames_concealed, lost.len() as u64);
}

#[test]
fn random_network_accounts_for_every_frame() {
    let mut rng = StdRng::seed_from_u64(77);
    let pkts = stream(3000, 64_000, 99, 0.0);
    let mut lost = HashSet::new();
    let mut copies = 0;
    let arrivals = deliver(&pkts, |p| {
        if p.n > 0 && rng.gen_bool(0.02) {
            lost.insert(p.n);
            return vec![];
        }
        let delay = if p.n == 0 {
            MS * 40
        } else {
            MS * 40 + Duration::from_micros(rng.gen_range(0..60_000))
        };
        if rng.gen_bool(0.02) {
            copies += 1;
            vec![
                delay,
                delay + Duration::from_micros(rng.gen_range(0..30_000)),
            ]
        } else {
            vec![delay]
        }
    });
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 5, FRAME, Duration::from_secs(62));

    let late: HashSet<u32> = sim
        .pushed
        .iter()
        .filter(|(a, p)| !a.copy && *p == Pushed::Late)
        .map(|(a, _)| a.pkt.n)
        .collect();
    for (a, pushed) in &sim.pushed {
        let ok = match a.copy {
            false => matches!(pushed, Pushed::Buffered | Pushed::Late),
            true => matches!(pushed, Pushed::Duplicate | Pushed::Late),
        };
        assert!(ok, "{a:?} -> {pushed:?}");
    }
    let dup_outcomes = sim
        .pushed
        .iter()
        .filter(|(a, p)| a.copy && *p == Pushed::Duplicate)
        .count() as u64;
    assert_eq!(sim.stats().packets_duplicated, dup_outcomes);
    assert!(dup_outcomes > 0 && dup_outcomes <= copies);
    // Late arrivals happen only while the delay estimate learns the jitter.
    assert_eq!(
        sim.stats().packets_late,
        sim.pushed
            .iter()
            .filter(|(_, p)| *p == Pushed::Late)
            .count() as u64
    );
    assert!(
        late.iter()
            .all(|&n| pkts[n as usize].send < Duration::from_secs(5)),
        "late: {late:?}"
    );

    // Frames come out in order, each at most once; what is not played was
    // lost, late, or dropped to reduce delay.
    let mut seen = HashSet::new();
    let mut last = None;
    for out in sim.outs() {
        let (Out::Packet(n) | Out::Missing(n)) = out else {
            unreachable!()
        };
        assert!(last < Some(n), "{out:?} after {last:?}");
        last = Some(n);
        seen.insert(n);
        if let Out::Missing(n) = out {
            assert!(
                lost.contains(&n) || late.contains(&n),
                "Missing({n}) was neither lost nor late"
            );
        } else {
            assert!(!lost.contains(&n));
        }
    }
    let removed = (0..3000).filter(|n| !seen.contains(n)).count() as u64;
    assert_eq!(removed, sim.stats().frames_removed_for_acceleration);
    assert!(removed < 30, "{removed}");
    // Every lost or late frame was concealed, unless dropped to reduce delay.
    let concealed = lost.union(&late).filter(|n| seen.contains(n)).count() as u64;
    assert_eq!(concealed, sim.stats().frames_concealed);
    assert!(concealed > 50);
    // The target settled above the 60 ms spread of delays.
    assert!(
        sim.jb.target_delay() >= MS * 60,
        "{:?}",
        sim.jb.target_delay()
    );
}

/// Ten minutes of a sender whose clock is off by `ppm`; returns the sim.
fn drifting(ppm: f64) -> Sim {
    let mut rng = StdRng::seed_from_u64(1000 + ppm.abs() as u64);
    let pkts = stream(30_000, 7, 7, ppm);
    let arrivals = deliver(&pkts, |_| {
        vec![MS * 50 + Duration::from_micros(rng.gen_range(0..10_000))]
    });
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 11, FRAME, Duration::from_secs(600));
    sim
}

fn assert_depth_bounded(sim: &Sim) {
    let after_warmup = sim.ticks.iter().filter(|t| t.at > Duration::from_secs(5));
    let delays: Vec<Duration> = after_warmup.filter_map(|t| t.delay).collect();
    let (min, max) = (*delays.iter().min().unwrap(), *delays.iter().max().unwrap());
    // Target is 40 ms; held within [target - F/2, target + F] plus the
    // 10-tick reaction time.
    assert!(
        min >= MS * 25 && max <= MS * 70,
        "delay ranged {min:?}..{max:?}"
    );
    assert!(sim.jb.len() <= 4, "{}", sim.jb.len());
}

#[test]
fn fast_sender_clock_drift_keeps_the_depth_bounded() {
    // 0.1% fast: over 10 minutes 0.6 s (30 frames) more audio than time.
    let sim = drifting(1000.0);
    assert_depth_bounded(&sim);
    let s = sim.stats();
    assert!(
        (25..=35).contains(&s.frames_removed_for_acceleration),
        "{s:?}"
    );
    assert_eq!((s.frames_concealed, s.packets_late), (0, 0), "{s:?}");
}

#[test]
fn slow_sender_clock_drift_keeps_the_depth_bounded() {
    let sim = drifting(-1000.0);
    assert_depth_bounded(&sim);
    let s = sim.stats();
    assert!(
        (25..=35).contains(&s.frames_inserted_for_deceleration),
        "{s:?}"
    );
    assert_eq!((s.frames_concealed, s.packets_late), (0, 0), "{s:?}");
}

#[test]
fn without_drift_nothing_is_added_or_removed() {
    let sim = drifting(0.0);
    assert_depth_bounded(&sim);
    let s = sim.stats();
    assert_eq!(
        (
            s.frames_removed_for_acceleration,
            s.frames_inserted_for_deceleration
        ),
        (0, 0),
        "{s:?}"
    );
}

#[test]
fn a_delay_burst_grows_the_target_which_later_shrinks() {
    let mut rng = StdRng::seed_from_u64(9);
    let pkts = stream(4000, 300, 0, 0.0);
    // At 10 s a queue builds up: +150 ms, draining linearly over one second.
    let arrivals = deliver(&pkts, |p| {
        let t = p.send.as_secs_f64();
        let extra = if (10.0..11.0).contains(&t) {
            0.150 * (11.0 - t)
        } else {
            0.0
        };
        vec![
            MS * 50
                + Duration::from_micros(rng.gen_range(0..5_000))
                + Duration::from_secs_f64(extra),
        ]
    });
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 2, FRAME, Duration::from_secs(81));
    let at = |secs: f64| {
        sim.ticks
            .iter()
            .find(|t| t.at >= Duration::from_secs_f64(secs))
            .unwrap()
    };
    assert_eq!(at(9.9).target, MS * 40);
    let peak_target = sim.ticks.iter().map(|t| t.target).max().unwrap();
    let peak_delay = sim.ticks.iter().filter_map(|t| t.delay).max().unwrap();
    assert!(peak_target >= MS * 150, "{peak_target:?}");
    assert!(peak_delay >= MS * 150, "{peak_delay:?}");
    // It shrinks slowly: still well up 5 s later, back at the minimum a minute later.
    assert!(at(16.0).target >= MS * 100, "{:?}", at(16.0).target);
    let later = at(75.0);
    assert_eq!(later.target, MS * 40);
    assert!(later.delay.unwrap() <= MS * 70, "{:?}", later.delay);
    // Nothing was lost to the burst: the buffer held instead of concealing.
    let s = sim.stats();
    assert_eq!((s.frames_concealed, s.packets_late), (0, 0), "{s:?}");
    assert_eq!(s.frames_emitted + s.frames_removed_for_acceleration, 4000);
}

#[test]
fn late_packet_is_concealed_then_dropped_and_counted() {
    let pkts = stream(300, 5, 5, 0.0);
    let arrivals = deliver(&pkts, |p| vec![MS * if p.n == 100 { 350 } else { 50 }]);
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 17, FRAME, Duration::from_secs(8));
    let outs = sim.outs();
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, Out::Missing(_)))
            .collect::<Vec<_>>(),
        vec![&Out::Missing(100)]
    );
    let late: Vec<u32> = sim
        .pushed
        .iter()
        .filter(|(_, p)| *p == Pushed::Late)
        .map(|(a, _)| a.pkt.n)
        .collect();
    assert_eq!(late, vec![100]);
    assert_eq!(sim.stats().packets_late, 1);
    // The late arrival taught the buffer about 300 ms of jitter: capped at 200.
    assert_eq!(sim.jb.target_delay(), MS * 200);
    assert_eq!(
        sim.played().len(),
        299 - sim.stats().frames_removed_for_acceleration as usize
    );
}

#[test]
fn talkspurts_after_silence_suppression_restart_at_the_target_delay() {
    // 50 packets, 3 s of suppressed silence (timestamps jump, sequence
    // numbers do not), 50 more.
    let mut pkts = stream(100, 40_000, 1_000, 0.0);
    for p in &mut pkts[50..] {
        p.send += Duration::from_secs(3);
        p.ts = p.ts.wrapping_add(3 * 8000);
    }
    let arrivals = deliver(&pkts, |_| vec![MS * 45]);
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 9, FRAME, Duration::from_secs(6));
    assert_eq!(sim.outs(), (0..100).map(Out::Packet).collect::<Vec<_>>());
    let latency = |n: u32| {
        let t = sim.ticks.iter().find(|t| t.out == Out::Packet(n)).unwrap();
        t.at - pkts[n as usize].send
    };
    let (first, second) = (latency(0), latency(50));
    assert!(first.abs_diff(second) <= FRAME, "{first:?} vs {second:?}");
    let s = sim.stats();
    assert_eq!((s.resyncs, s.frames_concealed), (0, 0));
}

#[test]
fn a_new_stream_without_reset_resyncs() {
    // Stream A, then without signalling stream B with unrelated numbering.
    let a = stream(100, 1_000, 5_000, 0.0);
    let mut b = stream(100, 30_000, 3_000_000_000, 0.0);
    for p in &mut b {
        p.n += 100;
        p.send += Duration::from_secs(3);
    }
    let all: Vec<Pkt> = a.iter().chain(&b).copied().collect();
    let arrivals = deliver(&all, |_| vec![MS * 30]);
    let mut sim = Sim::new(cfg(), &all, arrivals);
    sim.run(MS * 1, FRAME, Duration::from_secs(6));
    assert_eq!(sim.outs(), (0..200).map(Out::Packet).collect::<Vec<_>>());
    assert_eq!(sim.stats().resyncs, 1);
    let resynced: Vec<u32> = sim
        .pushed
        .iter()
        .filter(|(_, p)| *p == Pushed::Resynced)
        .map(|(a, _)| a.pkt.n)
        .collect();
    assert_eq!(resynced, vec![100]);

    // Back to back: the tail of A still buffered is flushed.
    for p in &mut b {
        p.send -= Duration::from_secs(1);
    }
    let all: Vec<Pkt> = a.iter().chain(&b).copied().collect();
    let arrivals = deliver(&all, |_| vec![MS * 30]);
    let mut sim = Sim::new(cfg(), &all, arrivals);
    sim.run(MS * 1, FRAME, Duration::from_secs(7));
    let played = sim.played();
    let from_a = played.iter().filter(|&&n| n < 100).count() as u64;
    assert_eq!(
        played
            .iter()
            .filter(|&&n| n >= 100)
            .copied()
            .collect::<Vec<_>>(),
        (100..200).collect::<Vec<_>>()
    );
    assert_eq!(from_a + sim.stats().packets_discarded, 100);
    assert!(sim.stats().packets_discarded > 0);
}

#[test]
fn playout_follows_now_not_the_number_of_calls() {
    let mut rng = StdRng::seed_from_u64(4);
    let pkts = stream(500, 9, 9, 0.0);
    let mut net = StdRng::seed_from_u64(40);
    let arrivals = deliver(&pkts, |_| {
        vec![MS * 30 + Duration::from_micros(net.gen_range(0..15_000))]
    });
    let until = Duration::from_secs(12);

    let mut regular = Sim::new(cfg(), &pkts, arrivals.clone());
    regular.run(MS * 15, FRAME, until);
    // A busy caller that only wakes every 100 ms.
    let mut bursty = Sim::new(cfg(), &pkts, arrivals.clone());
    bursty.run(MS * 15, MS * 100, until);
    // A timer off by up to 4 ms either way; the grid starts at its first
    // (also jittered) call, so calls stay within half a frame of it.
    let mut sloppy = Sim::new(cfg(), &pkts, arrivals);
    let mut at = MS * 15;
    while at <= until {
        sloppy.call(at + Duration::from_micros(rng.gen_range(0..8_000)) - MS * 4);
        at += FRAME;
    }
    let ticks = |s: &Sim| s.ticks.iter().filter(|t| t.at <= MS * 11_000).count();
    // One tick per 20 ms of time, however the calls came.
    assert!(
        (549..=551).contains(&ticks(&regular)),
        "{}",
        ticks(&regular)
    );
    assert!(ticks(&bursty).abs_diff(ticks(&regular)) <= 5);
    assert!(ticks(&sloppy).abs_diff(ticks(&regular)) <= 1);
    assert_eq!(
        regular.outs(),
        (0..500).map(Out::Packet).collect::<Vec<_>>()
    );
    assert_eq!(bursty.outs(), regular.outs());
    assert_eq!(sloppy.outs(), regular.outs());
    // The sloppy timer still gets exactly one frame per call.
    assert!(sloppy.ticks.windows(2).all(|w| w[0].at != w[1].at));
}

#[test]
fn a_stalled_caller_skips_old_ticks_and_catches_up() {
    let pkts = stream(600, 9, 9, 0.0);
    let arrivals = deliver(&pkts, |_| vec![MS * 30]);
    let mut sim = Sim::new(cfg(), &pkts, arrivals);
    sim.run(MS * 6, FRAME, MS * 4000);
    // The process is busy for a second.
    sim.run(MS * 5006, FRAME, MS * 12_500);
    let s = sim.stats().clone();
    assert_eq!(s.ticks_skipped, 40);
    assert!(s.frames_removed_for_acceleration > 0);
    let played = sim.played();
    assert!(played.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        played.len() as u64 + s.frames_removed_for_acceleration + s.packets_discarded,
        600
    );
    // Latency is back to normal two seconds after the stall.
    let after = sim.ticks.iter().find(|t| t.at >= MS * 7000).unwrap();
    assert!(after.delay.unwrap() <= after.target + FRAME, "{after:?}");
}

#[test]
fn empty_until_the_first_packet_and_reset_forgets_the_stream() {
    let mut jb = JitterBuffer::new(cfg());
    let t0 = testkit::FakeClock::new().now();
    assert_eq!(jb.pop(t0), Some(Popped::Empty));
    assert_eq!(jb.pop(t0), None, "the next tick is 20 ms later");
    assert_eq!(jb.pop(t0 + MS * 9), None);
    assert_eq!(
        jb.pop(t0 + MS * 10),
        Some(Popped::Empty),
        "due from half a frame early"
    );
    assert_eq!(jb.push(t0 + MS * 15, 7, 700, b"x"), Pushed::Buffered);
    assert_eq!(jb.push(t0 + MS * 16, 7, 700, b"x"), Pushed::Duplicate);
    assert_eq!(jb.len(), 1);
    jb.reset();
    assert!(jb.is_empty());
    // After a reset any numbering starts a stream again.
    assert_eq!(jb.push(t0 + MS * 17, 60_000, 1, b"y"), Pushed::Buffered);
    let mut got = None;
    for k in 2..10 {
        while let Some(p) = jb.pop(t0 + FRAME * k) {
            if let Popped::Packet {
                sequence_number,
                payload,
                ..
            } = p
            {
                got = Some((sequence_number, payload.to_vec()));
            }
        }
    }
    assert_eq!(got, Some((60_000, b"y".to_vec())));
    assert_eq!(jb.stats().packets_discarded, 1);
}
