#!/usr/bin/perl

# A bounded soak of the gateway under load (make soak, about 2.5 minutes):
# nginx with two workers and a cache zone in front of the CI emulator,
# driven by wrk (256 connections, 2 threads) over a mix of targets, in
# three phases:
#
#   steady   60 s of load; every worker's RSS at 10 s and at the end must
#            have grown by less than 5 %
#   reload   30 s of load with nginx -s reload 10 times: no failed request
#            for clients that retry as HTTP allows (curl, beside wrk), the
#            cache kept (hits stay HIT), every old worker gone after
#   outage   30 s of load; the emulator is killed (SIGKILL, as in a crash)
#            after 10 s and started again on the same port 10 s later:
#            while it is down, lookups that need it get 502 and cache hits
#            are still 200 HIT; once it is back they get 200 again
#
# The mix, rotated by a wrk Lua script: cache hits (finished jobs, warmed
# first) for most of it, misses (unfinished jobs: never cached, always
# upstream), the job list, refused input (400, 404) and upstream faults
# (500, 502); some requests ask for JSON.  The emulator checks every
# request's signature: a bad one would be a 403 where a 200 is expected.
#
# The judge is nginx's access log, not wrk: every request's status, cache
# status and upstream status must be the ones allowed for its target at
# that moment.  wrk must report no socket error (connect, read, write,
# timeout) but one kind, shown as a "note": read errors at a reload, see
# reload_read_errors() below; the curl clients must see no error at all.
# nginx's error log must hold no [alert], [crit] or [emerg] and no worker
# crash.  Prints a summary table; exits 1 if any check failed.
#
#   perl bench/soak.pl [--steady 60] [--reload 30] [--outage 30]
#                      [--connections 256] [--threads 2]
#
# TEST_NGINX_LEAVE=1 keeps the directory with the configuration and logs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;
use Getopt::Long;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my %opt = (steady => 60, reload => 30, outage => 30,
           connections => 256, threads => 2);
GetOptions(\%opt, 'steady=i', 'reload=i', 'outage=i', 'connections=i',
           'threads=i')
    or die "usage: $0 [--steady S] [--reload S] [--outage S]"
         . " [--connections N] [--threads N]\n";
die "--steady must be at least 15 s (RSS is first read at 10 s)\n"
    if $opt{steady} < 15;

my $RELOADS = 10;
my $RSS_LIMIT = 5;          # % growth of a worker's RSS, 10 s to the end
my $WRK_TIMEOUT = 10;       # s; a request slower than that is an error
my $SETTLE = 1.5;           # s after wrk exits: stragglers logged, log flushed

# A whole run ends on its own, whatever hangs.
my $BOUND = $opt{steady} + $opt{reload} + $opt{outage} + 90;

for my $tool (qw(wrk curl)) {
    grep { -x "$_/$tool" } split /:/, $ENV{PATH}
        or die "$tool is not installed (apt-get install $tool)\n";
}

# --- the targets -------------------------------------------------------------

# kind => [ [ target, status, json? ], ... ]: the status is the one answer
# with the emulator up.
my $QUEUE = 'p893bcda225bf4945a378da6662e81a89';
my %TARGETS = (
    hit => [
        map({ [ "/ci/jobs/$_", 200 ] }
            qw(jobsSuccess1 jobsFailed1 jobsCancel1
               j8d121820f5e411ec926ef19d53ba9c6f),
            'jobsSuccess2,jobsFailed2,jobsCancel2',
            map { "genSuccess$_" } 1 .. 24),
        [ '/ci/jobs/jobsSuccess1', 200, 'json' ],
        [ '/ci/pic_jobs/picSuccess1', 200 ],
        [ '/ci/pic_jobs/picFailed1', 200, 'json' ],
        [ '/ci/ai_jobs/aiSuccess1', 200 ],
        [ '/ci/ai_jobs/aiCancel1', 200, 'json' ],
        [ '/ci/inventorytriggerjob/invSuccess1', 200 ],
        [ '/ci/inventorytriggerjob/invFailed1', 200, 'json' ],
    ],
    miss => [
        [ '/ci/jobs/jobsRunning1', 200 ],
        [ '/ci/jobs/jobsSuccess3,jobsRunning2', 200, 'json' ],
        [ '/ci/pic_jobs/picSubmitted1', 200 ],
        [ '/ci/ai_jobs/aiPause1', 200, 'json' ],
        [ '/ci/inventorytriggerjob/invRunning1', 200 ],
    ],
    list => [
        [ "/ci/jobs?queueId=$QUEUE&tag=Translation&size=5", 200 ],
        [ "/ci/jobs?queueId=$QUEUE&tag=Translation&states=Success", 200,
          'json' ],
    ],
    bad => [
        [ '/ci/jobs/bad-id', 400 ],
        [ '/ci/jobs/a,,b', 400, 'json' ],
        [ '/ci/jobs/%2e%2e', 400 ],
        [ '/ci/jobs/' . join(',', map { "jobsSuccess$_" } 1 .. 11), 400 ],
        [ "/ci/jobs?queueId=$QUEUE", 400 ],
        [ '/ci/nosuchapi/jobsSuccess1', 404 ],
    ],
    fault => [
        [ '/ci/jobs/fault500', 500 ],
        [ '/ci/jobs/faultmalformed', 502 ],
        [ '/ci/jobs/faulttruncated', 502, 'json' ],
        [ '/ci/jobs/faultreset', 502 ],
    ],
);

# Per kind: its share of each cycle of the rotation, and what the access
# log must say besides the status: $ci_jobs_cache_status, and
# $upstream_status ("-": never asked upstream; "200": upstream's last
# answer was a 200, after a retry on a closed keepalive connection too;
# undef: anything, as faults end in all sorts of ways).
#
# Hits dominate, as with front-ends polling finished jobs.  wrk is a
# closed loop: once the emulator (one Perl process per connection, on the
# same CPUs) is slower than the rate at which connections come to it,
# nearly all 256 connections queue on it, its accept queue overflows and
# nginx answers 504.  About 2.5 % of the mix going upstream keeps it under
# its capacity here.
my %KIND = (
    hit   => { per_cycle => 192, cache => 'HIT',    upstream => '-' },
    miss  => { per_cycle => 3,   cache => 'MISS',   upstream => '200' },
    list  => { per_cycle => 1,   cache => 'BYPASS', upstream => '200' },
    bad   => { per_cycle => 3,   cache => '-',      upstream => '-' },
    fault => { per_cycle => 1,   cache => 'MISS',   upstream => undef },
);
my @KINDS = qw(hit miss list bad fault);

my %expect;     # target => { kind, status }
for my $kind (@KINDS) {
    for (@{ $TARGETS{$kind} }) {
        $expect{ $_->[0] } = { kind => $kind, status => $_->[1] };
    }
}

sub goes_upstream { $_[0] eq 'miss' || $_[0] eq 'list' || $_[0] eq 'fault' }

# The rotation: cycles in which each kind's share is spread evenly, so that
# every stretch of the load has every kind, each kind going round its own
# targets; as many cycles as it takes for every target to come round.
sub rotation {
    my @slots;
    for my $kind (@KINDS) {
        my $n = $KIND{$kind}{per_cycle};
        push @slots, map { [ ($_ + 0.5) / $n, $kind ] } 0 .. $n - 1;
    }
    my @cycle = map { $_->[1] } sort { $a->[0] <=> $b->[0] } @slots;

    my $cycles = 1;
    for my $kind (@KINDS) {
        my $need = @{ $TARGETS{$kind} } / $KIND{$kind}{per_cycle};
        $cycles = int($need + 0.999) if $need > $cycles;
    }
    my (@all, %next);
    for (1 .. $cycles) {
        for my $kind (@cycle) {
            my $list = $TARGETS{$kind};
            push @all, $list->[ $next{$kind}++ % @$list ];
        }
    }
    return @all;
}

# --- nginx and the emulator --------------------------------------------------

my $MAIN = $$;
my $emu_port = CiJobsTest::free_port();
my ($t, $emu_pid, $wrk_pid, @curl_pids);

# Everything started is stopped, whatever way the script ends (and not by
# a forked child whose exec failed).
sub cleanup {
    if ($wrk_pid) {
        kill 'TERM', $wrk_pid;
        waitpid $wrk_pid, 0;
        undef $wrk_pid;
    }
    kill 'TERM', @curl_pids;
    waitpid $_, 0 for splice @curl_pids;
    stop_emulator();
    $t->stop_all if $t;
}
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { die "interrupted (SIG$_[0])\n" };
$SIG{ALRM} = sub { die "still running after ${BOUND}s: giving up\n" };
alarm $BOUND;
END {
    if ($$ == $MAIN) {
        local $?;
        cleanup();
    }
}

$t = CiJobsTest->new(
    workers => 2,
    emulators => {},        # started here: no --record, killed at will
    start => 0,
    # notice: reloads and worker exits are logged, keepalive chatter is not
    error_log_level => 'notice',
    http => <<"EOF");
    ci_jobs_cache_zone soak:10m;

    log_format soak '\$msec \$pid \$status "\$upstream_status" '
                    '"\$ci_jobs_cache_status" "\$http_user_agent" '
                    '\$request_uri';

    # connections kept open: a new one costs the emulator a fork
    upstream ci {
        server 127.0.0.1:$emu_port;
        keepalive 256;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%DIR%%/soak.log soak buffer=64k flush=1s;
        add_header X-Cache \$ci_jobs_cache_status always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_pass http://ci;
            ci_jobs_cache soak;
            ci_jobs_json auto;
        }
    }
EOF

my $dir = $t->dir;
my $conf = "$dir/nginx.conf";

sub start_emulator {
    my $pidfile = "$dir/emulator.pid";
    unlink $pidfile;
    $emu_pid = fork // die "fork: $!";
    if ($emu_pid == 0) {
        open STDOUT, '>>', "$dir/emulator.log";
        open STDERR, '>&', \*STDOUT;
        exec $^X, "$CiJobsTest::ROOT/t/emulator/ci-emulator.pl",
             '--listen', "127.0.0.1:$emu_port",
             '--host', $CiJobsTest::HOST,
             '--secret', "$CiJobsTest::SECRET_ID:$CiJobsTest::SECRET_KEY",
             '--pid-file', $pidfile;
        warn "exec: $!\n";
        POSIX::_exit(127);
    }
    CiJobsTest::wait_for(sub { -s $pidfile }, 15)
        or die "the emulator did not start:\n"
             . CiJobsTest::slurp("$dir/emulator.log");
}

# SIGKILL, a crash: no clean stop.  Its connection children exit within
# half a second of their parent's death; they do not hold the listening
# socket, so the port refuses connections at once.
sub kill_emulator {
    my $pid = $emu_pid or return;
    undef $emu_pid;
    kill 'KILL', $pid;
    waitpid $pid, 0;
    unlink "$dir/emulator.pid";
    CiJobsTest::wait_for(sub { !emulator_children() }, 3);
}

sub emulator_children {
    return grep {
        CiJobsTest::slurp($_) =~ /^ci-emulator 127\.0\.0\.1:$emu_port connection/
    } glob '/proc/[0-9]*/cmdline';
}

sub stop_emulator {
    my $pid = $emu_pid or return;
    undef $emu_pid;
    kill 'TERM', $pid;      # it stops its connection children too
    waitpid $pid, 0;
}

start_emulator();
$t->start_nginx;

# --- helpers -----------------------------------------------------------------

sub master_pid {
    CiJobsTest::slurp("$dir/nginx.pid") =~ /(\d+)/ or die "no nginx.pid\n";
    return $1;
}

# nginx's worker processes: { pid => title }
sub workers {
    my $master = master_pid();
    my %w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        # the command name may hold spaces: the fields after its ")"
        my ($ppid) = CiJobsTest::slurp($stat) =~ /\) \S+ (\d+)/ or next;
        next unless $ppid == $master;
        my ($pid) = $stat =~ m{/proc/(\d+)/};
        (my $title = CiJobsTest::slurp("/proc/$pid/cmdline")) =~ tr/\0/ /;
        $title =~ s/\s+$//;
        $w{$pid} = $title if $title =~ /worker process/;
    }
    return \%w;
}

sub rss_kb {
    my ($pid) = @_;
    CiJobsTest::slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m or return;
    return $1;
}

# nginx -s reload, as an operator would
sub reload_nginx {
    my $out = `$CiJobsTest::NGINX -p $dir -c $conf -s reload 2>&1`;
    die "nginx -s reload failed:\n$out" if $?;
}

# The wrk Lua script: the rotation, and a machine-readable summary line.
sub write_lua {
    my $lua = "$dir/soak.lua";
    open my $fh, '>', $lua or die "$lua: $!";
    print $fh "-- written by bench/soak.pl: the soak's request rotation\n";
    print $fh "local targets = {\n";
    for (rotation()) {
        my ($path, undef, $json) = @$_;
        (my $quoted = $path) =~ s/([\\"])/\\$1/g;
        printf $fh "  { \"%s\", %s },\n", $quoted, $json ? 'true' : 'false';
    }
    print $fh <<'LUA';
}
local reqs = {}
local i = 0

-- runs in wrk's main Lua state, before each thread's init()
local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  for k, tg in ipairs(targets) do
    local h = {}
    if tg[2] then h["Accept"] = "application/json" end
    reqs[k] = wrk.format("GET", tg[1], h)
  end
  -- the threads start at different points of the rotation
  i = math.floor(#reqs / 2) * (thread_id or 0)
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function done(s, latency, requests)
  io.write(string.format(
    'SOAK {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    s.requests, s.duration, s.errors.connect, s.errors.read,
    s.errors.write, s.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
LUA
    close $fh or die "$lua: $!";
}

# Runs wrk for $seconds while running the timed actions ([ offset, code ],
# offsets in seconds from wrk's start); returns the phase: its times and
# wrk's summary.
sub load {
    my ($name, $seconds, @actions) = @_;
    my $out = "$dir/wrk-$name.out";
    my $t0 = time;
    $wrk_pid = fork // die "fork: $!";
    if ($wrk_pid == 0) {
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        exec 'wrk', "-t$opt{threads}", "-c$opt{connections}",
             "-d${seconds}s", '--timeout', "${WRK_TIMEOUT}s",
             '-s', "$dir/soak.lua", 'http://127.0.0.1:' . $t->port . '/';
        warn "exec wrk: $!\n";
        POSIX::_exit(127);
    }

    @actions = sort { $a->[0] <=> $b->[0] } @actions;
    my $deadline = $t0 + $seconds + 15;
    my $wrk_status;
    for (;;) {
        if (waitpid($wrk_pid, WNOHANG) == $wrk_pid) {
            $wrk_status = $?;
            undef $wrk_pid;
            last;
        }
        die "wrk did not stop after ${seconds}s\n" if time > $deadline;
        while (@actions && time - $t0 >= $actions[0][0]) {
            (shift @actions)->[1]->();
        }
        sleep 0.02;
    }
    my $t1 = time;

    my $text = CiJobsTest::slurp($out);
    die "wrk failed ($wrk_status):\n$text" if $wrk_status;
    die "wrk stopped early, actions left undone:\n$text" if @actions;
    my ($json) = $text =~ /^SOAK (\{.*\})$/m
        or die "no summary from wrk:\n$text";

    sleep $SETTLE;
    return { name => $name, seconds => $seconds, t0 => $t0, t1 => $t1,
             end => time, wrk => JSON::PP::decode_json($json) };
}

# Clients that retry as HTTP allows (RFC 9112, 9.3.1), beside wrk: curl
# resends a request whose reused keepalive connection closed before any
# answer came.  They ask what a polling front-end asks: hits, misses and
# the list (nginx closes the connection after a 400 or a 500 of its own).
# Each curl process goes through $CURL_BATCH requests on one connection;
# each client runs one after the other until $seconds are up.  Their
# output has a line per request: "status new-connections URL" (status
# 000: failed).
my $CURL_CLIENTS = 4;
my $CURL_BATCH = 1000;

sub start_curl_clients {
    my ($seconds) = @_;
    my $base = 'http://127.0.0.1:' . $t->port;
    my @targets = grep { $expect{ $_->[0] }{kind} =~ /^(?:hit|miss|list)$/ }
                       rotation();
    my $config = "$dir/curl.conf";
    open my $fh, '>', $config or die "$config: $!";
    for my $i (0 .. $CURL_BATCH - 1) {
        printf $fh qq{url = "%s%s"\noutput = "/dev/null"\n},
            $base, $targets[ $i % @targets ][0];
    }
    close $fh or die "$config: $!";

    my $until = time + $seconds;
    for my $n (1 .. $CURL_CLIENTS) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open STDOUT, '>', "$dir/curl-$n.out" or POSIX::_exit(127);
            open STDERR, '>', "$dir/curl-$n.err" or POSIX::_exit(127);
            # --path-as-is: the refused targets are sent as they are
            system 'curl', '-sS', '--path-as-is', '-K', $config,
                   '-w', '%{http_code} %{num_connects} %{url}\n'
                while time < $until;
            POSIX::_exit(0);
        }
        push @curl_pids, $pid;
    }
}

# Waits for the curl clients; returns their requests, the statuses not
# expected (000 included) and how many requests had to open a connection
# though not the first of their curl process (nginx had closed it).
sub curl_results {
    waitpid $_, 0 for splice @curl_pids;
    my $base = 'http://127.0.0.1:' . $t->port;
    my %r = (requests => 0, reconnects => 0, wrong => [], errors => '');
    for my $n (1 .. $CURL_CLIENTS) {
        my $i = 0;
        for (split /\n/, CiJobsTest::slurp("$dir/curl-$n.out")) {
            my ($status, $connects, $url) = /^(\d{3}) (\d+) (.*)$/
                or die "unexpected curl output: $_\n";
            (my $path = $url) =~ s/^\Q$base\E//;
            $r{requests}++;
            $r{reconnects} += $connects if $i++ % $CURL_BATCH;
            $r{status}{$status}++;
            push @{ $r{wrong} }, "$status $path"
                if $status != ($expect{$path}{status} // 0);
        }
        $r{errors} .= CiJobsTest::slurp("$dir/curl-$n.err");
    }
    return \%r;
}

# --- the run -----------------------------------------------------------------

my @checks;     # [ verdict (ok, FAIL, note), what, detail ]
sub check {
    my ($ok, $what, $detail) = @_;
    push @checks, [ $ok ? 'ok' : 'FAIL', $what, $detail // '' ];
    return $ok;
}

write_lua();

# Every target answers as expected once, and finished jobs are then held:
# the load starts with a warm cache.
{
    my @wrong;
    for my $path (sort keys %expect) {
        my $e = $expect{$path};
        my $r = $t->get($path);
        push @wrong, "$path: $r->{status}, not $e->{status}"
            if $r->{status} != $e->{status};
        if ($e->{kind} eq 'hit') {
            my $again = $t->get($path);
            push @wrong, "$path: not HIT when asked again"
                if ($again->{headers}{'x-cache'} // '') ne 'HIT';
        }
    }
    for (grep { $_->[2] } map { @$_ } values %TARGETS) {
        my ($path, $status) = @$_;
        my $r = $t->get($path, Accept => 'application/json');
        push @wrong, "$path as JSON: $r->{status}, "
                     . ($r->{headers}{'content-type'} // 'no type')
            unless $r->{status} == $status
                   && ($r->{headers}{'content-type'} // '')
                      =~ m{^application/json};
    }
    check(!@wrong, 'warm-up: every target answers as expected (XML and JSON),'
          . ' hits cached',
          join '; ', @wrong);
}

my %phase;

# 1: steady load; RSS read at 10 s and, still under load, at the end
{
    my (%rss10, %rss_end, %series);
    my $sample = sub {
        my ($into) = @_;
        my $w = workers();
        for my $pid (keys %$w) {
            my $kb = rss_kb($pid) // next;
            $into->{$pid} = $kb if $into;
            push @{ $series{$pid} }, $kb;
        }
    };
    my @actions = ([ 10, sub { $sample->(\%rss10) } ]);
    for (my $at = 20; $at < $opt{steady} - 1; $at += 10) {
        push @actions, [ $at, sub { $sample->() } ];
    }
    push @actions, [ $opt{steady} - 1, sub { $sample->(\%rss_end) } ];

    my $p = $phase{steady} = load('steady', $opt{steady}, @actions);
    @$p{qw(rss10 rss_end series)} = (\%rss10, \%rss_end, \%series);
}

# 2: nginx -s reload, evenly spread through the load
{
    my @times;
    my $step = $opt{reload} / ($RELOADS + 1);
    my $master_rss = rss_kb(master_pid());
    # they stop early enough for their last requests to be in the phase
    start_curl_clients($opt{reload} - 1);
    my $p = $phase{reload} = load('reload', $opt{reload},
        map { [ $_ * $step, sub { push @times, time; reload_nginx() } ] }
            1 .. $RELOADS);
    $p->{curl} = curl_results();
    $p->{end} = time;
    $p->{reload_times} = \@times;
    $p->{master_rss} = [ $master_rss, rss_kb(master_pid()) ];

    # the old workers finish what they hold and exit: nothing keeps them
    my $left;
    CiJobsTest::wait_for(sub {
        $left = workers();
        keys %$left == 2 && !grep { /shutting down/ } values %$left
    }, 10);
    $p->{workers_after} = $left;

    my $r = $t->get($TARGETS{hit}[0][0]);
    $p->{probe} = $r->{headers}{'x-cache'} // '';
}

# 3: the emulator killed after a third, started again after two thirds
{
    my %o;
    my $third = $opt{outage} / 3;
    my $p = $phase{outage} = load('outage', $opt{outage},
        [ $third, sub { $o{kill} = time; kill_emulator(); $o{down} = time } ],
        [ 2 * $third,
          sub { $o{restart} = time; start_emulator(); $o{up} = time } ]);
    $p->{outage} = \%o;
}

$t->stop_nginx;     # flushes the access log
stop_emulator();

# --- the judge: the access log -----------------------------------------------

# The emulator's state when a line was logged: "up" but in phase 3,
# "before" the kill, "dying" (its children finish or drop what they
# hold), "down", "starting" and "after" it listens again.
my @STATES = qw(before dying down starting after);
sub emulator_state {
    my ($msec, $o) = @_;
    return 'up' unless $o;
    return 'before' if $msec < $o->{kill};
    return 'dying' if $msec < $o->{down};
    return 'down' if $msec < $o->{restart};
    return 'starting' if $msec < $o->{up};
    return 'after';
}

sub as_expected {
    my ($k, $status, $want, $up, $cache) = @_;
    return 0 unless $status == $want && $cache eq $k->{cache};
    return 1 unless defined $k->{upstream};
    return $up eq '-' if $k->{upstream} eq '-';
    return $up =~ /(?:^|, )\Q$k->{upstream}\E$/;
}

# Is this line allowed?  It is counted in $p on the way.
sub judge {
    my ($p, $msec, $pid, $status, $up, $cache, $uri) = @_;
    my $e = $expect{$uri} or return 0;
    my $kind = $e->{kind};
    my $k = $KIND{$kind};
    my $state = emulator_state($msec, $p->{outage});

    $p->{pids}{$pid} = 1;
    $p->{count}{$kind}{$status}++;
    $p->{by_state}{$kind}{$state}{"$status $cache"}++;
    $p->{hits_by_pid}{$pid}{"$status $cache"}++ if $kind eq 'hit';
    $p->{first_200_after} //= $msec
        if $state eq 'after' && $kind eq 'miss' && $status == 200;

    if ($status == 499) {
        # wrk closing its connections at its end, requests still waiting
        # for the emulator
        return 0 unless goes_upstream($kind)
                        && $msec >= $p->{t0} + $p->{seconds} - 0.5;
        $p->{closed_at_end}++;
        return 1;
    }

    my $normal = as_expected($k, $status, $e->{status}, $up, $cache);
    return $normal if !goes_upstream($kind)
                      || $state eq 'up' || $state eq 'before'
                      || $state eq 'after';
    # a refused connection: a 502, whatever the target
    my $refused = $status == 502 && $cache eq $k->{cache};
    return $refused if $state eq 'down';
    return $normal || $refused;
}

my @phases = map { $phase{$_} } qw(steady reload outage);
my $outside = 0;

open my $log, '<', "$dir/soak.log" or die "$dir/soak.log: $!";
while (my $line = <$log>) {
    chomp $line;
    my @f = $line
        =~ /^(\d+\.\d+) (\d+) (\d{3}) "([^"]*)" "([^"]*)" "([^"]*)" (.*)$/
        or die "unexpected access log line: $line\n";
    my $client = splice @f, 5, 1;       # wrk sends no User-Agent
    my ($p) = grep { $f[0] >= $_->{t0} && $f[0] < $_->{end} } @phases;
    if (!$p) {          # warm-up and probes, checked as they were made
        $outside++;
        next;
    }
    $p->{ $client eq '-' ? 'lines' : 'curl_lines' }++;
    next if judge($p, @f);
    push @{ $p->{bad} }, $line if ($p->{bad_n}++ // 0) < 5;
}
close $log;

# --- the error log -----------------------------------------------------------

my @error_log = split /\n/, CiJobsTest::slurp("$dir/error.log");
my @grave = grep { /\[(alert|crit|emerg)\]/ } @error_log;
my @crashes = grep { /exited on signal/ } @error_log;
my %errors;     # [error] lines, numbers blanked, by kind
for (@error_log) {
    /\[error\] \d+#\d+: \*\d+ (.*?)(?:, client:|$)/ or next;
    (my $what = $1) =~ s/\d+/N/g;
    $errors{$what}++;
}

# --- the checks --------------------------------------------------------------

sub sum { my $s = 0; $s += $_ for @_; return $s }

sub fmt_counts {
    my ($h) = @_;
    return join ', ', map { "$_: $h->{$_}" } sort keys %{ $h || {} };
}

for my $p (@phases) {
    my $w = $p->{wrk};
    check(!$p->{bad_n},
          "$p->{name}: every logged answer allowed for its target",
          $p->{bad_n} ? "$p->{bad_n} not allowed, e.g.:\n        "
                        . join "\n        ", @{ $p->{bad} }
                      : '');
    check($p->{lines} >= $w->{requests},
          "$p->{name}: every answer wrk counted is in the access log",
          "$w->{requests} counted, $p->{lines} logged");
    my $other = $w->{connect} + $w->{write} + $w->{timeout};
    check($other == 0, "$p->{name}: no connect, write or timeout error",
          $other ? "connect $w->{connect}, write $w->{write},"
                   . " timeout $w->{timeout}" : '');
    if ($p->{name} ne 'reload') {
        check($w->{read} == 0, "$p->{name}: no read error",
              $w->{read} ? "read $w->{read}" : '');
    }
}

# Read errors at a reload.  Each old worker, told to shut down gracefully,
# closes its idle keepalive connections at once (nginx core,
# ngx_close_idle_connections()).  Under wrk nearly every connection is
# "idle" at that moment with its next request already sent and unread:
# nginx closes it without reading it, and wrk, which never retries, counts
# a read error.  The request was never processed, so it is not a wrong
# answer; HTTP clients retry such a request on a new connection
# (RFC 9112, 9.3.1).  Plain nginx with "return 200" does the same, one
# error per connection and reload.  So they are shown, not failed, when
# they look like that and only like that: none without reloads (the other
# phases, same load), at most one per connection and reload, and none of
# those requests in the access log (logged minus counted stays within the
# connections' last requests, in flight when wrk stopped, as in the other
# phases; answered, they would add one each).
sub reload_read_errors {
    my $p = $phase{reload};
    my $read = $p->{wrk}{read};
    my @extra = map { $_->{lines} - $_->{wrk}{requests} } @phases;
    my $detail = sprintf '%d read errors over %d reloads; logged minus'
        . ' counted: %d (steady %d, outage %d)', $read,
        scalar @{ $p->{reload_times} }, $extra[1], $extra[0], $extra[2];
    if ($read == 0) {
        check(1, 'reload: no read error', $detail);
        return;
    }
    my $explained = $phase{steady}{wrk}{read} == 0
        && $phase{outage}{wrk}{read} == 0
        && $read <= $opt{connections} * @{ $p->{reload_times} }
        && $extra[1] <= $opt{connections};
    if ($explained) {
        push @checks, [ 'note', 'reload: read errors in wrk: keepalive'
            . ' connections closed by the exiting workers with a request'
            . ' unread (nginx core; see reload_read_errors())', $detail ];
    } else {
        check(0, 'reload: read errors in wrk not explained by keepalive'
            . ' connections closed at reload', $detail);
    }
}
reload_read_errors();

{
    my $p = $phase{steady};
    my @at10 = sort keys %{ $p->{rss10} };
    my @at_end = sort keys %{ $p->{rss_end} };
    check(@at10 == 2 && "@at10" eq "@at_end",
          'steady: the same two workers at 10 s and at the end',
          "at 10 s: @at10; at the end: @at_end");
    for my $pid (@at10) {
        my ($a, $b) = ($p->{rss10}{$pid}, $p->{rss_end}{$pid} // 0);
        $p->{growth}{$pid} = 100 * ($b - $a) / $a;
        check($p->{growth}{$pid} < $RSS_LIMIT,
              "steady: worker $pid RSS growth under $RSS_LIMIT %",
              sprintf('%d kB -> %d kB, %+.1f %%', $a, $b,
                      $p->{growth}{$pid}));
    }
}

{
    my $p = $phase{reload};
    my $n = @{ $p->{reload_times} };
    check($n == $RELOADS, "reload: $RELOADS reloads done");
    # each generation's workers answered: the reloads took effect
    my $pids = keys %{ $p->{pids} };
    check($pids >= $n + 1, 'reload: every generation of workers answered',
          "$pids worker pids in the log for " . ($n + 1) . ' generations');
    my $left = $p->{workers_after} || {};
    check(keys %$left == 2 && !grep({ /shutting down/ } values %$left),
          'reload: the old workers all exited',
          join '; ', map { "$_ $left->{$_}" } sort keys %$left);
    # the last generation of workers: the finished jobs they answer were
    # fetched by workers long gone
    my %last;
    for my $pid (keys %$left) {
        my $h = $p->{hits_by_pid}{$pid} || {};
        $last{$_} += $h->{$_} for keys %$h;
    }
    $p->{last_generation} = \%last;
    my $hits = $last{'200 HIT'} // 0;
    check($hits > 0 && $hits == sum(values %last),
          'reload: the last workers\' hits all 200 HIT', fmt_counts(\%last));
    check($p->{probe} eq 'HIT', 'reload: a finished job still HIT after',
          "X-Cache: $p->{probe}");

    my $c = $p->{curl};
    my @wrong = @{ $c->{wrong} };
    check($c->{requests} > 0 && !@wrong && $c->{errors} eq '',
          'reload: no failed request for the curl clients',
          sprintf('%d requests: %s', $c->{requests}, fmt_counts($c->{status}))
          . (@wrong ? sprintf('; %d not as expected, e.g. %s', scalar @wrong,
                              join ', ', grep { defined } @wrong[0 .. 2])
                    : '')
          . ($c->{errors} ne '' ? "; curl said: $c->{errors}" : ''));
    check(($p->{curl_lines} // 0) == $c->{requests},
          'reload: each curl request in the access log once',
          sprintf('%d requests, %d logged', $c->{requests},
                  $p->{curl_lines} // 0));
}

{
    my $p = $phase{outage};
    my $s = $p->{by_state};
    my $miss_down = $s->{miss}{down} || {};
    my $n502 = $miss_down->{'502 MISS'} // 0;
    check($n502 > 0 && $n502 == sum(values %$miss_down),
          'outage: while down, every miss 502', fmt_counts($miss_down));
    my $hit_down = $s->{hit}{down} || {};
    my $hits = $hit_down->{'200 HIT'} // 0;
    check($hits > 0 && $hits == sum(values %$hit_down),
          'outage: while down, every hit 200 HIT', fmt_counts($hit_down));
    my $miss_after = $s->{miss}{after} || {};
    my $n200 = $miss_after->{'200 MISS'} // 0;
    # (but the 499s of wrk's end, allowed above)
    check($n200 > 0 && $n200 == sum(map { $miss_after->{$_} }
                                     grep { !/^499/ } keys %$miss_after),
          'outage: after the restart, every miss 200 again',
          fmt_counts($miss_after) . (defined $p->{first_200_after}
              ? sprintf('; the first %.3f s after the emulator listened',
                        $p->{first_200_after} - $p->{outage}{up})
              : ''));
}

check(!@grave, 'error log: no [alert], [crit] or [emerg]',
      join "\n        ", grep { defined } @grave[0 .. 4]);
check(!@crashes, 'error log: no worker crashed', join "\n        ",
      grep { defined } @crashes[0 .. 4]);

# --- the summary -------------------------------------------------------------

# "200x123 502x4": one kind's statuses in one phase
sub statuses {
    my ($p, $kind) = @_;
    my $c = $p->{count}{$kind} || {};
    return join(' ', map { "${_}x$c->{$_}" } sort keys %$c) || '-';
}

my $fmt = '  %-27s' . ('  %-24s' x 3) . "\n";
print "\nsoak: wrk -t$opt{threads} -c$opt{connections} against nginx"
    . " (2 workers, cache zone) in front of the CI emulator\n\n";
printf $fmt, '', map { "$_->{name} ($_->{seconds} s)" } @phases;
printf $fmt, 'requests (wrk)', map { $_->{wrk}{requests} } @phases;
printf $fmt, 'req/s', map {
    sprintf '%.0f', $_->{wrk}{requests} / ($_->{wrk}{duration_us} / 1e6)
} @phases;
printf $fmt, 'latency p50 / p99 / max ms', map {
    sprintf '%.1f / %.0f / %.0f', $_->{wrk}{p50_us} / 1e3,
            $_->{wrk}{p99_us} / 1e3, $_->{wrk}{max_us} / 1e3
} @phases;
printf $fmt, 'answers (access log)', map { $_->{lines} } @phases;
printf $fmt, 'logged minus counted', map {
    $_->{lines} - $_->{wrk}{requests}
} @phases;
for my $kind (@KINDS) {
    printf $fmt, "$kind: status x count", map { statuses($_, $kind) } @phases;
}
printf $fmt, '499 as wrk stopped', map { $_->{closed_at_end} // 0 } @phases;
printf $fmt, 'not allowed', map { $_->{bad_n} // 0 } @phases;
printf $fmt, 'socket errors c/r/w/t', map {
    my $w = $_->{wrk};
    "$w->{connect}/$w->{read}/$w->{write}/$w->{timeout}"
} @phases;

{
    my $p = $phase{steady};
    printf "\n  steady: worker RSS (VmRSS kB) at 10 s -> %d s (under load)\n",
        $opt{steady} - 1;
    for my $pid (sort keys %{ $p->{rss10} }) {
        printf "    worker %-7d %7d -> %7s  %+.1f %%   (every 10 s: %s)\n",
            $pid, $p->{rss10}{$pid}, $p->{rss_end}{$pid} // '?',
            $p->{growth}{$pid} // 0, join ' ', @{ $p->{series}{$pid} || [] };
    }
}
{
    my $p = $phase{reload};
    printf "\n  reload: %d/%d nginx -s reload; %d worker pids answered;"
         . " the last workers' hits: %s;\n          master RSS %d -> %d kB\n",
        scalar @{ $p->{reload_times} }, $RELOADS,
        scalar keys %{ $p->{pids} },
        fmt_counts($p->{last_generation}) || 'none', @{ $p->{master_rss} };
    printf "          %d curl clients: %d requests, %d of them on a"
         . " connection opened again\n", $CURL_CLIENTS, $p->{curl}{requests},
        $p->{curl}{reconnects};
}
{
    my $p = $phase{outage};
    my $o = $p->{outage};
    printf "\n  outage: emulator killed at %.1f s (its children gone at %.1f s),"
         . " restarted at %.1f s,\n          listening at %.1f s:"
         . " down for %.1f s\n",
        (map { $o->{$_} - $p->{t0} } qw(kill down restart up)),
        $o->{up} - $o->{kill};
    my $row = "    %-9s %-28s %-32s %-18s %s\n";
    printf $row, '', 'miss', 'list', 'hit', 'fault';
    for my $state (@STATES) {
        printf $row, $state,
            map { fmt_counts($p->{by_state}{$_}{$state}) || '-' }
                qw(miss list hit fault);
    }
}

print "\n  error log: [error] lines by kind\n";
printf "    %7d  %s\n", $errors{$_}, $_
    for sort { $errors{$b} <=> $errors{$a} } keys %errors;
print "  access log lines outside the phases (warm-up, probes): $outside\n";

print "\n";
my $failed = grep { $_->[0] eq 'FAIL' } @checks;
my $notes = grep { $_->[0] eq 'note' } @checks;
for (@checks) {
    my ($verdict, $what, $detail) = @$_;
    # the detail on the same line when it fits
    my $sep = length("$what ($detail)") > 70 || $detail =~ /\n/
            ? "\n        " : ' ';
    printf "  %-4s  %s%s\n", $verdict, $what,
        $detail ne '' ? "$sep($detail)" : '';
}
printf "\nsoak: %s: %d checks, %d failed%s%s\n",
    $failed ? 'FAILED' : 'passed', scalar @checks, $failed,
    $notes ? ", $notes note" . ($notes > 1 ? 's' : '') : '',
    $ENV{TEST_NGINX_LEAVE} ? "; logs in $dir" : '';

exit($failed ? 1 : 0);
