#!/usr/bin/perl

# Memory per request (make bench-memory): the gateway worker's peak RSS
# while N slow readers each hold an answer of S bytes, in XML and in JSON.
#
# Per scenario, a fresh gateway nginx (worker_processes 1, the module, no
# cache) in front of a second nginx that answers every GET with one
# generated file as application/xml, with a Content-Length (or chunked,
# below).  N clients, each with a 4 KB receive buffer (the gateway's
# listen socket has a 64 KB send buffer, so the kernel cannot take a whole
# answer off the worker), send their request and read nothing.  Once
# every request has gone upstream (the upstream's access log) or been
# refused (a 503 in the gateway's), and the worker's RSS and CPU time have
# stopped moving, its VmHWM (/proc/<pid>/status) is the scenario's peak;
# then the clients read their status line and close.  The idle figure is
# the worker's VmRSS before the first request.
#
# The answers:
#
#   siblings   <Response><a/><b/><a/><b/>...</Response>: names repeated
#              after other names, the converter's most expensive shape
#              (a record per element, a second copy of the output)
#   siblings+text   the same with a character in each: <a>x</a><b>x</b>
#   escapes    one leaf of tabs, each written as \t in JSON: the longest
#              JSON for its XML (twice)
#   list       a job list page of 100 JobsDetail (t/unit/xml/seed002.xml's
#              media job with its MediaInfo, each its own JobId)
#   chunked    siblings, sent chunked (the upstream's sub_filter drops the
#              Content-Length): the body grows as it comes
#
# XML mode holds the body, whatever its shape; JSON mode runs the three
# shapes just under the default maximum body size (2m), and the two
# heaviest (siblings: the most work for the converter; escapes: the
# longest output) at 50 readers and at 7.9 MiB (ci_jobs_max_body_size 8m).
# All with ci_jobs_max_held_size 1024m, not to interfere (sizes take k or
# m, not g); then 50 readers of 7.9 MiB, XML and JSON, with its default
# (128m), to show the bound.  Last, whether the target holds: for 20
# readers of each JSON shape at 2 MiB, a peak RSS within 3 x (20 x S).

#   perl bench/memory.pl
#   BENCH_MODULE=/path/to/ngx_http_ci_jobs_module.so perl bench/memory.pl
#
# A module without ci_jobs_max_held_size (older builds) runs the same
# scenarios without that directive, and not the one that shows the bound.
# Prints the table; writes it to build/bench/memory.txt (BENCH_OUT=FILE).
# The whole run stops by itself within BENCH_BOUND (300) seconds.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
              pack_sockaddr_in);
use Time::HiRes qw(sleep time);

my $ROOT = $CiJobsTest::ROOT;
my $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $MODULE = $ENV{BENCH_MODULE} || "$ROOT/build/ngx_http_ci_jobs_module.so";
my $OUT = $ENV{BENCH_OUT} || "$ROOT/build/bench/memory.txt";
my $BOUND = $ENV{BENCH_BOUND} || 300;
my $MIB = 1024 * 1024;
my $MAX = 2 * $MIB;                 # ci_jobs_max_body_size's default
my $BIG = int(7.9 * $MIB);          # under a raised limit of 8m
my $ID = 'j8d121820f5e411ec926ef19d53ba9c6f';

-f $MODULE or die "$MODULE: no such module (make module)\n";

my $dir = tempdir('ci-jobs-memory-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{TEST_NGINX_LEAVE});
my %nginx;          # name => master pid
my @clients;
my $MAIN = $$;

sub cleanup {
    close $_ for splice @clients;
    stop_nginx($_) for keys %nginx;
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

my $held = held_size_known();

# --- the answers -------------------------------------------------------------

# name => [ what, generator(size) ]
my %SHAPES = (
    'siblings' => [ '<a/><b/> alternating', sub {
        fill('<Response>', '<a/><b/>', '</Response>', $_[0]) } ],
    'siblings+text' => [ '<a>x</a><b>x</b> alternating', sub {
        fill('<Response>', '<a>x</a><b>x</b>', '</Response>', $_[0]) } ],
    'escapes' => [ 'one leaf of tabs', sub {
        fill('<Response>', "\t" x 64, '</Response>', $_[0]) } ],
);

# the root, UNIT repeated as often as fits in SIZE, the end
sub fill {
    my ($head, $unit, $tail, $size) = @_;
    my $n = int(($size - length($head) - length($tail)) / length $unit);
    return $head . ($unit x $n) . $tail;
}

sub list_answer {
    my $seed = CiJobsTest::slurp("$ROOT/t/unit/xml/seed002.xml");
    my ($job) = $seed =~ m{(    <JobsDetail>.*?</JobsDetail>\n)}s
        or die "no JobsDetail in seed002.xml\n";
    my $body = "<Response>\n";
    for my $i (1 .. 100) {
        (my $j = $job) =~ s{<JobId>j[0-9a-f]{32}</JobId>}
                           {sprintf '<JobId>j%032x</JobId>', $i}e;
        $body .= $j;
    }
    return $body . "    <NextToken>225508</NextToken>\n</Response>\n";
}

# --- the scenarios -----------------------------------------------------------

my @rows;
my @target;      # [ shape, result ]: 20 readers, JSON, the maximum size
my $list = list_answer();

# answer, shape, size, readers, JSON?, ci_jobs_max_body_size
for my $s (
    [ 'worst', 'siblings',      $MAX - 64, 20, 0, '2m' ],
    [ 'worst', 'siblings',      $MAX - 64, 20, 1, '2m' ],
    [ 'worst', 'siblings+text', $MAX - 64, 20, 1, '2m' ],
    [ 'worst', 'escapes',       $MAX - 64, 20, 1, '2m' ],
    [ 'worst', 'siblings',      $MAX - 64, 50, 0, '2m' ],
    [ 'worst', 'siblings',      $MAX - 64, 50, 1, '2m' ],
    [ 'worst', 'escapes',       $MAX - 64, 50, 1, '2m' ],
    [ 'worst', 'siblings',      $BIG,      20, 0, '8m' ],
    [ 'worst', 'siblings',      $BIG,      20, 1, '8m' ],
    [ 'worst', 'escapes',       $BIG,      20, 1, '8m' ],
    [ 'worst', 'siblings',      $BIG,      50, 0, '8m' ],
    [ 'list',  undef,   length $list,      20, 0, '2m' ],
    [ 'list',  undef,   length $list,      20, 1, '2m' ],
    [ 'list',  undef,   length $list,      50, 0, '2m' ],
    [ 'list',  undef,   length $list,      50, 1, '2m' ],
    [ 'chunked', 'siblings',    $MAX - 64, 20, 0, '2m' ],
    [ 'chunked', 'siblings',    $MAX - 64, 20, 1, '2m' ],
) {
    my ($label, $shape, $size, $n, $json, $max) = @$s;
    my $r = scenario(label => $label, size => $size, n => $n, json => $json,
             max => $max, $shape ? (shape => $shape) : (body => $list),
             chunked => $label eq 'chunked',
             $held ? (held => '1024m') : ());
    push @target, [ $shape, $r ]
        if $label eq 'worst' && $size == $MAX - 64 && $n == 20 && $json;
}

# the bound: the default ci_jobs_max_held_size (128m) against 50 readers of
# 7.9 MiB, which would need 414 MB of bodies
if ($held) {
    push @rows, "";
    for my $json (0, 1) {
        scenario(label => 'bound', shape => $json ? 'escapes' : 'siblings',
                 size => $BIG, n => 50, json => $json, max => '8m',
                 held => 'default');
    }
}

# --- the table ---------------------------------------------------------------

my $nginx_version = (`$NGINX -v 2>&1` =~ m{nginx/(\S+)})[0] // '?';
my $table = sprintf "%-7s %-13s %9s %3s %-4s %-7s %-14s %8s %9s %7s\n",
    qw(answer shape S N mode held 200/502/503 idle_kB peak_kB per_byte);
$table .= "$_\n" for @rows;

# the target: peak RSS within 3x of 20 x S, for each JSON shape at 2 MB
$table .= "\ntarget, peak RSS <= 3 x (20 x S), 20 readers, JSON, S under 2 MiB "
        . "(2m):\n";
for (@target) {
    my ($name, $r) = @$_;
    my $x = $r->{peak} * 1024 / (20 * $r->{size});
    $table .= sprintf "  %-13s %9d kB = %.2f x (20 x S): %s\n", $name,
                      $r->{peak}, $x, $x <= 3 ? 'holds' : 'does not hold';
}
$table .= sprintf "\nmodule: %s%s\nnginx %s, worker_processes 1; S in "
                . "bytes; per_byte: (peak - idle) / (N x S); held: "
                . "ci_jobs_max_held_size\n", $MODULE,
                  $held ? '' : ' (no ci_jobs_max_held_size)', $nginx_version;

print "\n$table";
make_path(dirname($OUT));
write_file($OUT, $table);
print "written: $OUT\n";

cleanup();
exit 0;

# --- one scenario ------------------------------------------------------------

sub scenario {
    my (%s) = @_;
    my $body = $s{body} // $SHAPES{ $s{shape} }[1]->($s{size});
    $s{size} = length $body;
    write_file("$dir/answer.xml", $body);

    my %port = (up => CiJobsTest::free_port(), gw => CiJobsTest::free_port());
    unlink "$dir/up.access.log", "$dir/gw.access.log";

    # a filter that changes nothing but drops the Content-Length: chunked
    my $chunked = $s{chunked} ? 'sub_filter_types application/xml; '
                              . 'sub_filter "<nowhere/>" "<nowhere/>";' : '';

    start_nginx('up', $port{up}, <<"EOF");
    server {
        listen 127.0.0.1:$port{up};
        access_log $dir/up.access.log;
        location / {
            root $dir;
            types { }
            default_type application/xml;
            try_files /answer.xml =500;
            $chunked
        }
    }
EOF

    my $max = $s{max} ? "ci_jobs_max_body_size $s{max};" : '';
    my $cap = ($s{held} && $s{held} ne 'default')
            ? "ci_jobs_max_held_size $s{held};" : '';
    my $json = $s{json} ? 'ci_jobs_json on;' : '';
    my $creds = CiJobsTest::credentials();

    start_nginx('gw', $port{gw}, <<"EOF", "load_module $MODULE;");
    $cap
    server {
        listen 127.0.0.1:$port{gw} sndbuf=64k backlog=1024;
        access_log $dir/gw.access.log;
        location /ci/ {
            ci_jobs on;
            $creds
            ci_jobs_pass http://127.0.0.1:$port{up};
            $max
            $json
        }
    }
EOF

    my $worker = worker($nginx{gw}) or die "no gateway worker\n";
    my $idle = status_kb($worker, 'VmRSS');

    for (1 .. $s{n}) {
        socket(my $c, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
        setsockopt($c, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
        connect($c, pack_sockaddr_in($port{gw}, inet_aton('127.0.0.1')))
            or die "connect: $!";
        syswrite $c, "GET /ci/jobs/$ID HTTP/1.1\r\nHost: localhost\r\n"
                   . "Connection: close\r\n\r\n";
        push @clients, $c;
    }

    # every request upstream or refused, then the worker at rest
    my $settled = CiJobsTest::wait_for(sub {
        lines("$dir/up.access.log") + count("$dir/gw.access.log", 503)
            >= $s{n}
    }, 30);
    die "$s{label}: the upstream was asked "
        . lines("$dir/up.access.log") . " times of $s{n}\n" unless $settled;
    my @last = ('', 0);
    my $still = 0;
    my $deadline = time + 30;
    while ($still < 5 && time < $deadline) {
        sleep 0.1;
        my @now = (status_kb($worker, 'VmRSS'), cpu_ticks($worker));
        $still = "@now" eq "@last" ? $still + 1 : 0;
        @last = @now;
    }
    die "$s{label}: the worker's RSS did not settle\n" if $still < 5;

    my $peak = status_kb($worker, 'VmHWM');
    # requests already over: their answers were not held at the peak
    my $done = lines("$dir/gw.access.log");

    # the status lines, then the clients closed
    my %status;
    my $sel = IO::Select->new(@clients);
    my %pending = map { fileno($_) => $_ } @clients;
    my $until = time + 10;
    while (%pending && time < $until) {
        for my $c ($sel->can_read(0.5)) {
            my $got = '';
            sysread $c, $got, 64;
            my ($code) = $got =~ m{^HTTP/1\.[01] (\d{3})};
            $status{ $code // 'none' }++;
            $sel->remove($c);
            delete $pending{ fileno $c };
        }
    }
    $status{none} += keys %pending;
    close $_ for splice @clients;
    stop_nginx('gw');
    stop_nginx('up');

    my $counts = join '/', map { $status{$_} // 0 } 200, 502, 503;
    $counts .= " +$status{none}?" if $status{none};
    my $per = ($peak - $idle) * 1024 / ($s{n} * $s{size});
    my $row = sprintf "%-7s %-13s %9d %3d %-4s %-7s %-14s %8d %9d %7.2f",
        $s{label}, $s{body} ? '100 jobs' : $s{shape}, $s{size}, $s{n},
        $s{json} ? 'JSON' : 'XML', $held ? ($s{held} // 'default') : '-',
        $counts, $idle, $peak, $per;
    $row .= "  ($done of $s{n} over before the peak was read)" if $done
        && $s{label} ne 'bound';
    push @rows, $row;
    print "$row\n";

    return { peak => $peak, idle => $idle, size => $s{size} };
}

# --- helpers -----------------------------------------------------------------

# does this module know ci_jobs_max_held_size?
sub held_size_known {
    write_file("$dir/t.conf", <<"EOF");
load_module $MODULE;
error_log $dir/t.error.log;
pid $dir/t.pid;
events { }
http { ci_jobs_max_held_size 1024m; }
EOF
    my $out = `$NGINX -t -p $dir -c $dir/t.conf 2>&1`;
    return 1 if $? == 0;
    return 0 if $out =~ /unknown directive "ci_jobs_max_held_size"/;
    die "nginx -t with $MODULE:\n$out";
}

sub start_nginx {
    my ($name, $port, $http, $modules) = @_;
    my $conf = "$dir/$name.conf";
    my $user = $> == 0 ? 'user root;' : '';
    make_path("$dir/$name");
    write_file($conf, <<"EOF");
@{[ $modules // '' ]}
$user
worker_processes 1;
daemon off;
pid $dir/$name.pid;
error_log $dir/$name.error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $dir/$name;
    proxy_temp_path $dir/$name;
    fastcgi_temp_path $dir/$name;
    uwsgi_temp_path $dir/$name;
    scgi_temp_path $dir/$name;
$http
}
EOF
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/$name.out";
        open STDERR, '>&', \*STDOUT;
        exec $NGINX, '-p', $dir, '-c', $conf or POSIX::_exit(127);
    }
    $nginx{$name} = $pid;
    CiJobsTest::wait_for(sub {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1)
    }, 15) or die "nginx $name did not start: "
                  . CiJobsTest::slurp("$dir/$name.out")
                  . CiJobsTest::slurp("$dir/$name.error.log");
    # the probe's connection gone from the worker
    sleep 0.1;
}

sub stop_nginx {
    my ($name) = @_;
    my $pid = delete $nginx{$name} or return;
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# the worker process of a master
sub worker {
    my ($master) = @_;
    return CiJobsTest::wait_for(sub {
        for my $stat (glob '/proc/[0-9]*/stat') {
            my ($ppid) = CiJobsTest::slurp($stat) =~ /\) \S+ (\d+)/ or next;
            next unless $ppid == $master;
            my ($pid) = $stat =~ m{/proc/(\d+)/};
            return $pid if CiJobsTest::slurp("/proc/$pid/cmdline")
                           =~ /worker process/;
        }
        return;
    }, 5);
}

sub status_kb {
    my ($pid, $field) = @_;
    CiJobsTest::slurp("/proc/$pid/status") =~ /^$field:\s+(\d+)/m
        or die "no $field for $pid\n";
    return $1;
}

# user + system time
sub cpu_ticks {
    my ($pid) = @_;
    my @f = split ' ', (CiJobsTest::slurp("/proc/$pid/stat") =~ /\) (.*)/)[0];
    return $f[11] + $f[12];
}

sub lines {
    my ($file) = @_;
    return () = CiJobsTest::slurp($file) =~ /\n/g;
}

# the access log's lines of one status
sub count {
    my ($file, $status) = @_;
    return () = CiJobsTest::slurp($file) =~ /" $status \d+ "/g;
}

sub write_file {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh or die "$file: $!";
}
