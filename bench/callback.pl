#!/usr/bin/perl

# From CI's notification to the event: how long 1,000 watchers of a job
# (Server-Sent Events, two workers, ci_jobs_watch_interval 60s) wait for
# its Success once CI has posted TaskFinish to ci_jobs_callback.  The CI
# emulator plays CI: its timed job ends BENCH_JOB_SECONDS after the first
# request, and it posts the notification then (t/emulator/ci-emulator.pl
# --callback).  Each watcher's delay is from the notification's sending
# to the arrival of its Success event; p50, p99 and the largest, over
# BENCH_ROUNDS rounds.
#
#   perl bench/callback.pl          (make bench-callback)
#   BENCH_WATCHERS=1000 BENCH_ROUNDS=5 BENCH_JOB_SECONDS=8

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my $WATCHERS = $ENV{BENCH_WATCHERS} || 1000;
my $ROUNDS = $ENV{BENCH_ROUNDS} || 5;
my $SECONDS = $ENV{BENCH_JOB_SECONDS} || 8;

my $t = CiJobsTest->new(workers => 2,
                        emulators => { plain => { callback => '/ci-events' } },
                        http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:10m;
    access_log off;

    server {
        # reuseport: the watchers shared between the two workers
        listen 127.0.0.1:%%PORT%% reuseport;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 60s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location = /ci-events {
            ci_jobs_callback ci_jobs;
        }
    }
EOF

my @delays;

for my $round (1 .. $ROUNDS) {
    my $id = "timed${SECONDS}x" . (int(rand 1e6) + 1);
    my (@socks, %arrived, %buf);

    for (1 .. $WATCHERS) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
            or die "connect: $!";
        print $s "GET /ci/jobs/$id HTTP/1.0\r\nHost: localhost\r\n"
                 . "Accept: text/event-stream\r\n\r\n";
        push @socks, $s;
    }

    my $sel = IO::Select->new(@socks);
    my $deadline = time + $SECONDS + 30;

    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.05)) {
            my $got = sysread $s, my $chunk, 65536;
            my $fd = fileno $s;
            if (!$got) {
                $sel->remove($s);
                next;
            }
            $buf{$fd} .= $chunk;
            $arrived{$fd} //= time
                if $buf{$fd} =~ /"JobId":"\w+","State":"Success"/;
        }
    }

    my ($sent) = grep { $_->{id} eq $id } $t->callbacks;
    die "round $round: no notification sent\n" unless $sent;

    my $missing = $WATCHERS - keys %arrived;
    die "round $round: $missing watchers without Success\n" if $missing;

    push @delays, map { $_ - $sent->{time} } values %arrived;
    close $_ for @socks;

    printf "round %d: %d watchers, Success %.1f to %.1f ms after the "
           . "notification\n", $round, scalar keys %arrived,
           1000 * (sort { $a <=> $b } map { $_ - $sent->{time} }
                   values %arrived)[0],
           1000 * (sort { $b <=> $a } map { $_ - $sent->{time} }
                   values %arrived)[0];
}

@delays = sort { $a <=> $b } @delays;

sub pct { return 1000 * $delays[ int($_[0] / 100 * $#delays + 0.5) ] }

printf "%d watchers x %d rounds, notification to event: p50 %.0f ms, "
       . "p99 %.0f ms, max %.0f ms\n", $WATCHERS, $ROUNDS, pct(50), pct(99),
       1000 * $delays[-1];

$t->stop_all;
