#!/usr/bin/perl

# What an open event stream costs its worker: the worker's RSS with 1,000
# streams open on 100 running jobs, less its RSS before them, per stream
# (one worker, each stream past its first event; no refresh meanwhile);
# once with a browser's request headers, once with a 1.5 KiB cookie as
# well, which takes nginx an 8 KiB large_client_header_buffers buffer;
# and with request_pool_size 7k, in which a stream's request fits one
# block of its pool rather than two of 4 KiB.
# Then what the refreshes leave: 100 streams on 20 running jobs refreshed
# every second, the worker's RSS over 10 s of refreshes, per refresh (a
# refresh's memory is freed once it is done, not kept by the stream that
# carried it).  The figures of docs/watch.md:
#
#   TEST_NGINX_MODULE=$PWD/build/ngx_http_ci_jobs_module.so \
#       prove -v t/watch_memory.t

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

my $N = $ENV{TEST_NGINX_WATCHERS} || 1000;

plan skip_all => 'RSS is measured without a sanitizer or valgrind'
    if $ENV{TEST_NGINX_ASAN} || $ENV{TEST_NGINX_VALGRIND};

my $HTTP = <<'EOF';
    ci_jobs_cache_zone ci_jobs:4m;

    server {
        listen 127.0.0.1:%%PORT%% backlog=2048;
        access_log off;
        %%POOL%%
        %%CREDENTIALS%%

        location /watch/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval %%INTERVAL%%;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my ($t, $worker);

sub rss_kib {
    my ($rss) = CiJobsTest::slurp("/proc/$worker/status")
                =~ /^VmRSS:\s+(\d+)/m;
    return $rss;
}

# a browser's EventSource request, headers and all
sub open_stream {
    my ($job, $cookie) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
        or die "connect: $!";
    print $s "GET /watch/jobs/$job HTTP/1.1\r\nHost: localhost\r\n"
             . "Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
             . "User-Agent: Mozilla/5.0 (X11; Linux x86_64) "
             . "AppleWebKit/537.36 (KHTML, like Gecko) "
             . "Chrome/120.0.0.0 Safari/537.36\r\n"
             . "Accept-Language: en-US,en;q=0.9\r\n"
             . "Accept-Encoding: gzip, deflate, br\r\n"
             . "Referer: http://localhost/jobs.html\r\n"
             . ($cookie ? 'Cookie: session=' . ('c' x $cookie) . "\r\n" : '')
             . "\r\n";
    return $s;
}

# until each socket has had its first job event; how many had
sub first_events {
    my (@socks) = @_;
    my %buf;
    my %pending = map { ("$_" => $_) } @socks;
    my $deadline = time + 60;
    while (%pending && time < $deadline) {
        my $sel = IO::Select->new(values %pending);
        for my $s ($sel->can_read(0.1)) {
            sysread $s, $buf{"$s"}, 65536, length($buf{"$s"} // '')
                or die 'a stream closed';
            delete $pending{"$s"} if $buf{"$s"} =~ /event: job/;
        }
    }
    return scalar(@socks) - keys %pending;
}

# a new nginx with one worker and room for the streams
sub start {
    my ($interval, $pool) = @_;

    (my $http = $HTTP) =~ s/%%INTERVAL%%/$interval/;
    $http =~ s/%%POOL%%/$pool ? "request_pool_size $pool;" : ''/e;
    $t = CiJobsTest->new(workers => 1, start => 0, http => $http);

    # room for the streams in one worker
    my $conf = $t->dir . '/nginx.conf';
    $t->write_conf($t->{http}, $conf);
    my $text = CiJobsTest::slurp($conf);
    $text =~ s/worker_connections 1024;/worker_connections 4096;/
        or die 'no worker_connections';
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh $text;
    close $fh;
    $t->start_nginx($conf);
    ($worker) = $t->worker_pids;
}

# KiB per stream
sub measure {
    my ($cookie, $bound, $pool) = @_;

    start('1h', $pool);

    # the jobs' answers first, and a round of streams opened and closed,
    # so that what the worker keeps anyway is there before the measure
    my @jobs = map { "timed999x$_" } 1 .. 100;
    $t->get("/watch/jobs/$_") for @jobs;
    my @warm = map { open_stream($jobs[$_ % 100], $cookie) } 1 .. 100;
    first_events(@warm);
    close $_ for @warm;
    sleep 1;

    my $before = rss_kib();
    my @streams = map { open_stream($jobs[$_ % 100], $cookie) } 1 .. $N;
    is(first_events(@streams), $N, "$N streams open, each past its first "
       . 'event' . ($cookie ? ", with a $cookie-byte cookie" : '')
       . ($pool ? ", request_pool_size $pool" : ''));
    sleep 0.5;
    my $after = rss_kib();

    my $per = ($after - $before) / $N;
    diag sprintf 'worker RSS %d KiB before, %d KiB with %d streams: '
                 . '%.1f KiB per stream', $before, $after, $N, $per;
    cmp_ok($per, '<=', $bound, sprintf 'a stream costs its worker %.1f KiB '
           . '(at most %s)', $per, $bound);

    close $_ for @streams;
    $t->done;

    return $per;
}

# KiB the worker keeps per refresh
sub refreshes {
    start('1s');

    my @jobs = map { "timed999x$_" } 1 .. 20;
    $t->get("/watch/jobs/$_") for @jobs;
    my @streams = map { open_stream($jobs[$_ % 20], 0) } 1 .. 100;
    is(first_events(@streams), 100, '100 streams open on 20 running jobs');

    # the first refreshes' memory is there before the measure
    sleep 3;
    my ($before, $t0) = (rss_kib(), time);
    sleep 10;
    my ($after, $t1) = (rss_kib(), time);
    my $n = grep { $_->{time} >= $t0 && $_->{time} <= $t1 }
            $t->upstream_requests;
    cmp_ok($n, '>=', 100, "$n refreshes in 10 s");

    my $per = ($after - $before) / ($n || 1);
    diag sprintf 'worker RSS %d KiB, then %d KiB after %d refreshes: '
                 . '%.2f KiB per refresh', $before, $after, $n, $per;
    cmp_ok($per, '<', 3, sprintf 'a refresh leaves %.2f KiB (less than 3)',
           $per);

    close $_ for @streams;
    $t->done;

    return $per;
}

my $small = measure(0, 9);
my $large = measure(1500, 12.5);
my $pooled = measure(0, 8, '7k');
my $refresh = refreshes();
diag sprintf '%.1f KiB per stream (request headers within 1 KiB), %.1f KiB '
             . '(a 1.5 KiB cookie: an 8 KiB large header buffer), %.1f KiB '
             . '(request_pool_size 7k); %.2f KiB per refresh', $small, $large,
             $pooled, $refresh;

done_testing;
