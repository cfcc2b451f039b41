#!/usr/bin/perl

# The watch under a crowd, side by side in one run: one nginx (2 workers)
# in front of the CI emulator, BENCH_WATCH_JOBS (100) running jobs whose
# progress steps every BENCH_WATCH_STEP (4) seconds (tick<S>x<N>, which the
# emulator steps in turn, so a client knows when each change happened),
# ci_jobs_watch_interval 2s, ci_jobs_cache_valid_pending 1s, and
# BENCH_WATCHERS (10000) clients of bench/watch_client.js (Node, one event
# loop), each on one job, in turn:
#
#   sse       each client an event stream
#   sse idle  the same on jobs that never change (jobsRunning<N>): the
#             workers' CPU with nothing to tell, BENCH_WATCH_IDLE (30) s
#             from 15 s after every client is connected (a stream's first
#             heartbeat comes 15 s after its first events: measured from
#             the start, the heartbeats would be fewer than they go on)
#   idle/job  the same with one client per job: what the upstream queries
#             alone cost, which the streams add to
#   poll      each client a GET every interval (2 s), through the pending
#             micro-cache (BENCH_POLLERS clients, by default as many)
#   longpoll  each client a GET with If-None-Match and Prefer: wait=60,
#             again at once after each answer (BENCH_LONGPOLLS clients)
#
# For each, over BENCH_WATCH_TIME (30) seconds once every client is
# connected: the upstream requests per interval, the delay from a change in
# the emulator to its arrival at a client (p50, p99, max), the workers' CPU
# (% of one core) and their RSS above the same nginx before any client,
# per client; and per job change, the client requests, the bytes sent to
# clients and the upstream requests.
#
#   perl bench/watch.pl      (make bench-watch; make bench runs it too)
#
# BENCH_WATCH_SCENARIOS (sse,idle,idle1,poll,longpoll) runs some of them.
# The server has request_pool_size BENCH_WATCH_POOL (7k), as docs/watch.md
# recommends for streams: a stream's request in one block of its pool
# (4k, nginx's default, takes two).
#
# Prints the table and writes it to build/bench/watch.txt.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;
use File::Path qw(make_path);
use IO::Handle;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);

my $WATCHERS = $ENV{BENCH_WATCHERS} || 10000;
my $POLLERS = $ENV{BENCH_POLLERS} || $WATCHERS;
my $LONGPOLLS = $ENV{BENCH_LONGPOLLS} || $WATCHERS;
my $JOBS = $ENV{BENCH_WATCH_JOBS} || 100;
my $STEP = $ENV{BENCH_WATCH_STEP} || 4;
my $SECONDS = $ENV{BENCH_WATCH_TIME} || 30;
my $IDLE = $ENV{BENCH_WATCH_IDLE} || 30;
my $SETTLE = 15;
my $INTERVAL = 2;
my $OUT = "$CiJobsTest::ROOT/build/bench";
my $CLIENT = "$FindBin::Bin/watch_client.js";

my $emu = CiJobsTest->new(emulators => { plain => {} });
my $dir = $emu->dir;
my $port = CiJobsTest::free_port();
my $user = $> == 0 ? 'user root;' : '';
my $creds = CiJobsTest::credentials();
my $emu_port = $emu->emulator_port('plain');
# as many descriptors as the system lets a process have (each watcher needs
# one in a worker and one in the client)
chomp(my $nofile = `sh -c 'ulimit -Hn'`);
$nofile = 1 << 20 if $nofile eq 'unlimited';
my $connections = $nofile;
my $POOL = $ENV{BENCH_WATCH_POOL} || '7k';

write_file("$dir/watch.conf", <<"EOF");
load_module $CiJobsTest::MODULE;
$user
worker_processes 2;
worker_rlimit_nofile $nofile;
daemon off;
pid $dir/watch.pid;
error_log $dir/watch.error.log warn;
events { worker_connections $connections; }
http {
    access_log off;
    client_body_temp_path $dir/temp;
    proxy_temp_path $dir/temp;
    fastcgi_temp_path $dir/temp;
    uwsgi_temp_path $dir/temp;
    scgi_temp_path $dir/temp;

    ci_jobs_cache_zone ci_jobs:64m;
    ci_jobs_watch_max @{[ 2 * $WATCHERS ]};

    server {
        listen 127.0.0.1:$port backlog=4096;
        keepalive_requests 1000000;
        keepalive_timeout 5m;
        request_pool_size $POOL;

        location /ci/ {
            ci_jobs on;
            ci_jobs_json on;
            $creds
            ci_jobs_pass http://127.0.0.1:$emu_port;
            ci_jobs_cache ci_jobs;
            ci_jobs_cache_valid_pending 1s;
            ci_jobs_watch on;
            ci_jobs_watch_interval ${INTERVAL}s;
            ci_jobs_watch_timeout 10m;
        }
    }
}
EOF
make_path("$dir/temp");

my ($nginx, $base_rss, $nginx_version);
($nginx_version) = `$CiJobsTest::NGINX -v 2>&1` =~ m{nginx/(\S+)};
my $load_before = (split ' ', CiJobsTest::slurp('/proc/loadavg'))[1];
my %row;
my %want = map { $_ => 1 } split /,/,
    ($ENV{BENCH_WATCH_SCENARIOS} || 'sse,idle,idle1,poll,longpoll');
$row{sse} = phase('sse', "/ci/jobs/tick${STEP}x", $WATCHERS) if $want{sse};
$row{idle} = phase('sse', '/ci/jobs/jobsRunning', $WATCHERS, $IDLE, $SETTLE)
    if $want{idle};
$row{idle1} = phase('sse', '/ci/jobs/jobsRunning', $JOBS, $IDLE, $SETTLE)
    if $want{idle1};
$row{poll} = phase('poll', "/ci/jobs/tick${STEP}x", $POLLERS) if $want{poll};
$row{longpoll} = phase('longpoll', "/ci/jobs/tick${STEP}x", $LONGPOLLS)
    if $want{longpoll};

$emu->stop_all;
my $load_after = (split ' ', CiJobsTest::slurp('/proc/loadavg'))[1];

my @order = ([ sse => 'sse' ], [ idle => 'sse idle' ],
             [ idle1 => 'idle/job' ], [ poll => 'poll' ],
             [ longpoll => 'longpoll' ]);
my $table = sprintf "%-9s %7s %8s %8s %8s %8s %7s %8s %9s %9s %8s\n",
    qw(scenario clients up/intv p50_ms p99_ms max_ms cpu_% KiB/cli
       req/chg bytes/chg up/chg);
for (@order) {
    my ($key, $name) = @$_;
    my $r = $row{$key} or next;
    $table .= sprintf "%-9s %7d %8.1f %8s %8s %8s %7.2f %8.2f %9.1f %9.0f %8.2f\n",
        $name, $r->{ready}, $r->{up_per_interval},
        map({ defined $r->{$_} ? $r->{$_} : '-' } qw(p50 p99 max)),
        $r->{cpu}, $r->{kib}, $r->{req_change}, $r->{bytes_change},
        $r->{up_change};
}
$table .= sprintf "\nnginx %s, worker_processes 2, %d jobs stepping every "
    . "%d s, ci_jobs_watch_interval %d s, ci_jobs_cache_valid_pending 1s, "
    . "request_pool_size %s; %d s per scenario (%d s idle, after %d s); "
    . "%d CPUs; a new nginx for each, its workers' RSS before any client: "
    . "%.1f MiB; load average (5 min) %s before, %s after\n",
    $nginx_version, $JOBS, $STEP, $INTERVAL, $POOL, $SECONDS, $IDLE, $SETTLE,
    scalar(`nproc`), $base_rss / 1024, $load_before, $load_after;

print $table;
make_path($OUT);
write_file("$OUT/watch.txt", $table);
print "written: $OUT/watch.txt\n";

# --- one scenario -------------------------------------------------------------

sub phase {
    my ($mode, $path, $clients, $seconds, $settle) = @_;
    $seconds //= $SECONDS;
    $settle //= 0;
    start_nginx();

    pipe my $from, my $out or die "pipe: $!";
    pipe my $in, my $to or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $from;
        close $to;
        open STDOUT, '>&', $out;
        open STDIN, '<&', $in;
        exec 'sh', '-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'node', 'node',
             $CLIENT, $mode, $port, $path, $clients, $JOBS, $STEP,
             $settle + $seconds, $INTERVAL * 1000
            or die "exec: $!";
    }
    close $out;
    close $in;

    my $line = <$from> // die "$mode: the client said nothing\n";
    die "$mode: $line" unless $line =~ /^ready (\d+)/;
    sleep $settle;
    my $t0 = time;
    my $cpu0 = cpu();
    sleep $seconds / 2;
    my $rss = rss();
    my $result = <$from> // die "$mode: no result\n";
    my $t1 = time;
    my $cpu = cpu() - $cpu0;
    my $r = decode_json($result);

    close $to;
    waitpid $pid, 0;
    kill 'QUIT', $nginx;
    waitpid $nginx, 0;

    my $up = grep { $_->{time} >= $t0 && $_->{time} <= $t1 }
             $emu->upstream_requests;
    my $changes = $path =~ /tick/ ? $JOBS * ($t1 - $t0) / $STEP : 0;
    $r->{up_per_interval} = $up * $INTERVAL / ($t1 - $t0);
    $r->{cpu} = 100 * $cpu / ($t1 - $t0);
    $r->{kib} = ($rss - $base_rss) / $r->{ready};
    $r->{req_change} = $changes ? $r->{requests} / $changes : 0;
    $r->{bytes_change} = $changes ? $r->{bytes} / $changes : 0;
    $r->{up_change} = $changes ? $up / $changes : 0;
    printf STDERR "%s %s: %s\n", $mode, $path, encode_json($r);
    return $r;
}

# --- helpers ------------------------------------------------------------------

# a new nginx: the RSS a scenario adds is its own, not an earlier one's
# high-water mark
sub start_nginx {
    $nginx = fork // die "fork: $!";
    if ($nginx == 0) {
        open STDOUT, '>>', "$dir/watch.out";
        open STDERR, '>&', \*STDOUT;
        exec 'sh', '-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'nginx',
             $CiJobsTest::NGINX, '-p', $dir, '-c', "$dir/watch.conf"
            or die "exec: $!";
    }
    CiJobsTest::wait_for(sub { IO::Socket::INET->new("127.0.0.1:$port") },
                         15)
        or die "nginx did not start: " . CiJobsTest::slurp("$dir/watch.out");
    CiJobsTest::wait_for(sub { workers() == 2 }, 15) or die "no 2 workers\n";

    # the module and the zone touched once, as a running gateway has them
    for my $n (1 .. $JOBS) {
        my $r = get("/ci/jobs/tick${STEP}x$n");
        die "tick${STEP}x$n: $r->{status}\n$r->{raw}\n" if $r->{status} != 200;
    }

    # and a stream opened and closed in each worker: a worker's first
    # stream takes $request_id, whose first use sets OpenSSL's random
    # generator up (about 1.3 MiB, once), which is no watcher's.  Streams
    # are opened until each worker's RSS has grown by 1 MiB at least.
    my %before = map { $_ => worker_rss($_) } workers();
    for (1 .. 64) {
        last unless grep { worker_rss($_) < $before{$_} + 1024 } keys %before;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 10) or die "connect: $!";
        print $s "GET /ci/jobs/tick${STEP}x1 HTTP/1.1\r\nHost: bench\r\n"
                 . "Accept: text/event-stream\r\n\r\n";
        local $/ = "event: job\n";
        <$s> // die "no stream\n";
        close $s;
        sleep 0.05;
    }

    sleep 1;
    $base_rss = rss();
}

# the workers' pids
sub workers {
    my ($master) = CiJobsTest::slurp("$dir/watch.pid") =~ /(\d+)/ or return;
    return grep { CiJobsTest::slurp("/proc/$_/cmdline") =~ /worker/ }
           split ' ', CiJobsTest::slurp("/proc/$master/task/$master/children");
}

# the workers' RSS together, KiB
sub rss {
    my $sum = 0;
    $sum += worker_rss($_) for workers();
    return $sum;
}

sub worker_rss {
    my ($pid) = @_;
    return CiJobsTest::slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m
           ? $1 : 0;
}

# the CPU seconds (user and system) the workers have used
sub cpu {
    my $sum = 0;
    for (workers()) {
        my ($stat) = CiJobsTest::slurp("/proc/$_/stat") =~ /\) (.*)/s;
        my @f = split ' ', $stat;
        $sum += $f[11] + $f[12];
    }
    return $sum / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

sub get {
    my ($target) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 10) or die "connect: $!";
    print $s "GET $target HTTP/1.1\r\nHost: bench\r\n"
             . "Accept: application/json\r\nConnection: close\r\n\r\n";
    local $/;
    my $raw = <$s> // '';
    return CiJobsTest::parse_response($raw);
}

sub write_file {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}
