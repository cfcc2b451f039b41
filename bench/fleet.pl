#!/usr/bin/perl

# What a polling crowd costs CI through three shapes of deployment, one
# after the other in one run, each in front of the same CI emulator
# (t/emulator/) and each built from examples/ as t/fleet.t builds it:
#
#   one node       fleet-shield.conf alone: one gateway with the cache, the
#                  lock and the pending micro-cache; the clients reach it
#                  directly
#   fleet hash     the fleet as documented: 2 edges (fleet-edge.conf)
#                  hashing on $ci_jobs_key consistent to 3 shields
#                  (fleet-shield.conf)
#   fleet rr       the same five nodes, the edges without the hash line:
#                  nginx's round-robin over the shields
#
# The same load for each: BENCH_FLEET_CLIENTS (32) clients, each on its
# own keepalive connection (in the fleets half on each edge), together
# sending BENCH_FLEET_RATE (320) polls a second, spread evenly, for
# BENCH_FLEET_TIME (10) seconds, every one of BENCH_FLEET_JOBS (16) jobs
# polled as often as the others, through each edge in turn.  The jobs are
# the emulator's timed ones, new to each shape: Submitted for a second
# after CI is first asked, then Running, then Success after 2 to
# 2 x BENCH_FLEET_TIME seconds, so that about half of them finish during
# the run.  A poll fails unless it is a 200 naming its job.  Each client
# first asks once for a finished job of its own, a second before the
# load: the connections on the way are open when it starts, as on nodes
# that have been serving.
#
# Per shape: the clients' answers a second, p50 and p99 latency, failed
# polls; CI's requests (the emulator's record): in all, then those
# answered with the job still unfinished per job and per
# ci_jobs_cache_valid_pending interval it was unfinished (from CI's first
# request for it to its end or the run's), and those answered with the
# job finished per job that finished; and how many shields answered each
# job.  BENCH_FLEET_RUNS (1) runs the shapes that many times in turn, each
# figure then the median of the runs' (failed polls: their sum).
#
#   perl bench/fleet.pl          (make bench-fleet; make bench runs it too)
#
# Prints the table and writes it to build/bench/fleet.txt.  Fails (after
# the table) if a poll failed or a node logged an [alert], [crit] or
# [emerg].

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;
use File::Path qw(make_path);
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep time);

my $SECONDS = $ENV{BENCH_FLEET_TIME} || 10;
my $CLIENTS = $ENV{BENCH_FLEET_CLIENTS} || 32;
my $RATE = $ENV{BENCH_FLEET_RATE} || 320;
my $JOBS = $ENV{BENCH_FLEET_JOBS} || 16;
my $RUNS = $ENV{BENCH_FLEET_RUNS} || 1;
my $OUT = "$CiJobsTest::ROOT/build/bench";

# name, edges, shields, what changes in fleet-edge.conf
my @SHAPES = (
    [ 'one node',   0, 1 ],
    [ 'fleet hash', 2, 3 ],
    [ 'fleet rr',   2, 3,
      sub { s/^ *hash \$ci_jobs_key consistent;\n//m or die 'no hash' } ],
);

my $ci = CiJobsTest->new;
my $pass = 'http://127.0.0.1:' . $ci->emulator_port('plain');
my $creds = 'ci_jobs_secret_id ' . $CiJobsTest::SECRET_ID
          . '; ci_jobs_secret_key ' . $CiJobsTest::SECRET_KEY . ';';

my $shield_conf = CiJobsTest::slurp("$CiJobsTest::ROOT/examples/"
                                    . 'fleet-shield.conf');
my ($interval) = $shield_conf =~ /^\s*ci_jobs_cache_valid_pending (\d+)s;/m
    or die "fleet-shield.conf: no ci_jobs_cache_valid_pending in seconds\n";

my (%runs, @failures);     # shape => [ its figures, a run each ]

for my $run (1 .. $RUNS) {
    for my $i (0 .. $#SHAPES) {
        push @{ $runs{ $SHAPES[$i][0] } },
            shape($SHAPES[$i], 1000 * (($run - 1) * @SHAPES + $i + 1));
    }
}

$ci->stop_all;

# --- the table ---------------------------------------------------------------

my $finishing = grep { success_after($_) < $SECONDS } 1 .. $JOBS;
my $table = sprintf "%d clients polling %d jobs (%d finishing during the "
    . "run) at %d polls/s\nfor %d s, ci_jobs_cache_valid_pending %ds%s\n",
    $CLIENTS, $JOBS, $finishing, $RATE, $SECONDS, $interval,
    $RUNS > 1 ? ", median of $RUNS runs (failed: all runs')" : '';
$table .= sprintf "%-10s %5s %7s %7s %7s %6s %8s %7s %9s %9s %7s\n",
    qw(shape nodes req/s p50_ms p99_ms failed upstream ratio),
    "run/job/${interval}s", qw(done/job shields);

my %median;
for my $s (@SHAPES) {
    my $runs = $runs{ $s->[0] };
    my %m = (failed => 0);
    $m{failed} += $_->{failed} for @$runs;
    for my $k (qw(rps p50 p99 upstream per_interval per_done spread)) {
        my @v = sort { $a <=> $b } map { $_->{$k} } @$runs;
        $m{$k} = $v[$#v / 2];
    }
    $median{ $s->[0] } = \%m;
    $table .= sprintf "%-10s %5s %7.0f %7.2f %7.2f %6d %8d %6.2fx %9.2f "
                      . "%9.2f %7.2f\n",
        $s->[0], $s->[1] ? "$s->[1]+$s->[2]" : $s->[2], $m{rps}, $m{p50},
        $m{p99}, $m{failed}, $m{upstream},
        $m{upstream} / ($median{ $SHAPES[0][0] }{upstream} || 1),
        $m{per_interval}, $m{per_done}, $m{spread};
}

my $nginx_version = (`$CiJobsTest::NGINX -v 2>&1` =~ m{nginx/(\S+)})[0];
my $ncpu = () = CiJobsTest::slurp('/proc/cpuinfo') =~ /^processor/mg;
my ($loadavg) = CiJobsTest::slurp('/proc/loadavg') =~ /^(\S+ \S+ \S+)/;
$table .= sprintf "\nupstream: CI's requests; ratio: to one node's; "
    . "run/job/%ds: those answered\nwith the job unfinished, per job and "
    . "%d s it was unfinished; done/job: those\nanswered with the job "
    . "finished, per finished job; shields: how many shields\nanswered "
    . "each job.  nginx %s, worker_processes auto (%d CPUs) per node,\n"
    . "the examples' configurations; load average at the end: %s\n",
    $interval, $interval, $nginx_version // '?', $ncpu, $loadavg // '?';

print "\n$table";
make_path($OUT);
write_file("$OUT/fleet.txt", $table);
print "written: $OUT/fleet.txt\n";

die map { "$_\n" } @failures if @failures;

# --- one shape ---------------------------------------------------------------

# The seconds job J (1 .. $JOBS) runs, from CI's first answer for it:
# from 2 up to twice the run's length
sub success_after {
    my ($j) = @_;
    return 2 + int(($j - 1) * 2 * $SECONDS / $JOBS);
}

# SHAPE's nodes started, loaded and stopped, its jobs' and warm-up ids
# numbered from BASE on: its figures
sub shape {
    my ($shape, $base) = @_;
    my ($name, $edges, $shields, $edit) = @$shape;

    # timed<S>x<N>: Success S seconds after CI is first asked for it
    my %secs = map { ('timed' . success_after($_) . 'x' . ($base + $_))
                     => success_after($_) } 1 .. $JOBS;
    my @jobs = sort { $secs{$a} <=> $secs{$b} } keys %secs;

    # a finished job for each client to ask first: every connection on
    # the way open before the load, as on a node that has been serving
    my @warm = map { 'genSuccess' . ($base + $_) } 1 .. $CLIENTS;

    my @shields = map { shield() } 1 .. $shields;
    my @edges = map { edge($edit, @shields) } 1 .. $edges;
    my @front = @edges ? @edges : @shields;

    my $load = crowd([ map { $_->port } @front ], \@jobs, \@warm);
    my $cost = upstream(\%secs, $load->{end});
    my $spread = shields_per_job(\@shields, \@jobs);

    for my $node (@edges, @shields) {
        $node->stop_all;
        my @bad = grep { /\[(alert|crit|emerg)\]/ }
                  split /\n/, $node->error_log;
        push @failures, "$name: $bad[0]" if @bad;
    }
    push @failures, "$name: $load->{failed} failed polls ("
                    . join(', ', map { "$_ x$load->{status}{$_}" }
                                 sort keys %{ $load->{status} }) . ')'
        if $load->{failed};

    return { %$load, %$cost, spread => $spread };
}

# --- the nodes ---------------------------------------------------------------

# fleet-shield.conf on a port of its own, the test keys instead of the
# role, its jobs in its own log
sub shield {
    my $t = CiJobsTest->new(emulators => {});
    my $log = $t->dir . '/jobs.log';
    $t->start_nginx($t->example('fleet-shield.conf', gateway => 8080,
        pass => $pass,
        edit => sub {
            s/ci_jobs_credentials_role auto;/$creds/ or die 'no role';
            s{access_log \S+;}{log_format jobs '\$uri \$status';
    access_log $log jobs;} or die 'no access_log';
        }));
    return $t;
}

# fleet-edge.conf with the shields' ports, EDIT applied
sub edge {
    my ($edit, @shields) = @_;
    my @ports = map { $_->port } @shields;
    my $t = CiJobsTest->new(emulators => {});
    $t->start_nginx($t->example('fleet-edge.conf', pass => $pass,
        edit => sub {
            s{server 10\.0\.1\.1(\d):8080}{server 127.0.0.1:$ports[$1 - 1]}g
                or die 'no shields';
            $edit->() if $edit;
        }));
    return $t;
}

# --- the load ----------------------------------------------------------------

# $CLIENTS processes, client c on port c % @$ports, asking for $warm->[c]
# first, then from a second on polling @$jobs from job c on;
# returns { rps, p50, p99 (ms), failed, status => {}, end }
sub crowd {
    my ($ports, $jobs, $warm) = @_;
    my $period = $CLIENTS / $RATE;
    my $start = time + 1;
    my $end = $start + $SECONDS;
    my @pids;
    pipe my $r, my $w or die "pipe: $!";

    for my $c (0 .. $CLIENTS - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
            my $url = "http://127.0.0.1:$ports->[$c % @$ports]/ci/jobs/";
            my (%status, @ms);
            my $res = $http->get("$url$warm->[$c]");
            $status{"warm-up:$res->{status}"}++ if $res->{status} != 200;
            # the clients' polls interleaved over the period
            my $tick = $start + $period * $c / $CLIENTS;
            # the next poll $CLIENTS + 1 jobs on: the clients' polls of one
            # period spread over all the jobs, and a job's polls go through
            # each edge in turn
            for (my $n = $c; ; $n += $CLIENTS + 1) {
                my $now = time;
                $tick = $now if $tick < $now;
                last if $tick >= $end;
                sleep $tick - $now if $tick > $now;
                my $job = $jobs->[$n % @$jobs];
                my $t0 = time;
                my $res = $http->get("$url$job");
                push @ms, 1000 * (time - $t0);
                my $ok = $res->{status} == 200
                         && $res->{content} =~ m{<JobId>\Q$job\E</JobId>};
                $status{ $ok ? 'ok' : $res->{status} }++;
                $tick += $period;
            }
            print $w join(' ', 'status', %status), "\n",
                     join(' ', 'ms', map { sprintf '%.3f', $_ } @ms), "\n";
            close $w;
            # not exit: the harness's objects are the parent's to stop
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    close $w;

    my (%status, @ms);
    while (my $line = <$r>) {
        my ($what, @v) = split ' ', $line;
        if ($what eq 'ms') {
            push @ms, @v;
            next;
        }
        my %seen = @v;
        $status{$_} += $seen{$_} for keys %seen;
    }
    close $r;
    waitpid $_, 0 for @pids;
    my $elapsed = time - $start;

    @ms = sort { $a <=> $b } @ms;
    my $ok = delete $status{ok} // 0;
    my $failed = 0;
    $failed += $_ for values %status;
    return { rps => $ok / $elapsed, p50 => pct(\@ms, 50),
             p99 => pct(\@ms, 99), failed => $failed, status => \%status,
             end => $end };
}

sub pct {
    my ($sorted, $p) = @_;
    return 0 unless @$sorted;
    return $sorted->[ int(($#$sorted) * $p / 100 + 0.5) ];
}

# --- what CI saw -------------------------------------------------------------

# CI's requests for the jobs of %$secs (id => seconds to Success) until
# END: { upstream, per_interval, per_done }
sub upstream {
    my ($secs, $end) = @_;
    my (%first, $running, $done);
    my $upstream = 0;
    my %finished;

    for my $q ($ci->upstream_requests) {
        my ($id) = $q->{target} =~ m{^/jobs/(\w+)$} or next;
        next unless exists $secs->{$id};
        $upstream++;
        $first{$id} //= $q->{time};
        my ($state) = ($q->{response} // '')
                      =~ m{^        <State>(\w+)</State>}m;
        die "CI's answer for $id: $q->{status}, no state\n"
            unless $q->{status} == 200 && $state;
        if ($state =~ /^(Success|Failed|Cancel)$/) {
            $done++;
            $finished{$id} = 1;
        } else {
            $running++;
        }
    }

    # the seconds each job was unfinished while the crowd polled it
    my $unfinished = 0;
    for my $id (keys %first) {
        my $until = $first{$id} + $secs->{$id};
        $until = $end if $until > $end;
        $unfinished += $until - $first{$id} if $until > $first{$id};
    }

    return { upstream => $upstream,
             per_interval => ($running // 0)
                             / (($unfinished / $interval) || 1),
             per_done => ($done // 0) / (keys(%finished) || 1) };
}

# the mean count of shields whose log names each job
sub shields_per_job {
    my ($shields, $jobs) = @_;
    my %on;
    for my $i (0 .. $#$shields) {
        my $log = CiJobsTest::slurp($shields->[$i]->dir . '/jobs.log');
        $on{$1}{$i} = 1 while $log =~ m{^/ci/jobs/(\w+) 200$}mg;
    }
    my $n = 0;
    $n += keys %{ $on{$_} || {} } for @$jobs;
    return $n / @$jobs;
}

sub write_file {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}
