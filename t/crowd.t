#!/usr/bin/perl

# Polling crowds: one upstream request per key while one is on its way
# (collapsed misses, across two workers), pending entries kept for
# ci_jobs_cache_valid_pending, stale answers on upstream failure, and
# answers that do not name exactly the ids asked for never stored.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $dead = CiJobsTest::free_port();

my $t = CiJobsTest->new(workers => 2, http => <<"EOF");
    ci_jobs_cache_zone ci_jobs:1m;
    ci_jobs_cache_zone small:32k;

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Cache \$ci_jobs_cache_status always;
        keepalive_requests 100000;
        %%CREDENTIALS%%
        ci_jobs_cache ci_jobs;

        location /ci/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache_valid_pending 1s;
        }

        location /terminal/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }

        location /lock/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache_lock_timeout 300ms;
        }

        # the emulator stopped for a while: its stored answers, stale
        location /downstale/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache_valid_pending 1s;
            ci_jobs_cache_use_stale error timeout;
        }

        location /down/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:$dead;
            ci_jobs_cache_valid_pending 1s;
        }

        location /small/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache small;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

sub upstream_count { scalar(() = $t->upstream_requests) }

sub cache_of { $_[0]{headers}{'x-cache'} // '' }

# $n connections at once, each with one request; the answers
sub crowd { answers(ask(@_)) }

# $n connections, each with one request sent: the sockets
sub ask {
    my ($target, $n) = @_;
    my @socks;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
            or die "connect: $!";
        push @socks, $s;
    }
    for my $s (@socks) {
        print $s "GET $target HTTP/1.1\r\nHost: localhost\r\n"
               . "Connection: close\r\n\r\n";
    }
    return @socks;
}

# what each socket received until nginx closed it, parsed
sub answers {
    my (@socks) = @_;
    my %buf;
    my $sel = IO::Select->new(@socks);
    my $deadline = time + 30;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $got = sysread $s, my $chunk, 65536;
            if ($got) {
                $buf{ fileno $s } .= $chunk;
            } else {
                $sel->remove($s);
            }
        }
    }
    return map { CiJobsTest::parse_response($buf{ fileno $_ } // '') }
           @socks;
}

# --- collapsed misses -------------------------------------------------------

$t->forget_upstream_requests;
my @r = crowd('/terminal/jobs/faultslowms200', 200);
is(scalar(grep { $_->{status} == 200 } @r), 200,
   '200 concurrent first requests: all 200');
is(scalar(grep { $_->{body} eq $r[0]{body} } @r), 200, 'the same body');
is(upstream_count(), 1, 'one upstream request');
my %by;
$by{ cache_of($_) }++ for @r;
is($by{MISS}, 1, 'one MISS');
is(($by{COLLAPSED} // 0) + ($by{HIT} // 0), 199, 'the rest COLLAPSED or HIT')
    or diag explain \%by;
ok($by{COLLAPSED}, 'some waited: COLLAPSED');
my $collapsed = $by{COLLAPSED} // 0;

# an answer that is not storable: each waiter goes upstream itself
$t->forget_upstream_requests;
@r = crowd('/terminal/jobs/faultslowms200,jobsRunning99', 5);
is(scalar(grep { $_->{status} == 200 } @r), 5, 'not storable: all 200');
is(scalar(grep { cache_of($_) eq 'MISS' } @r), 5, 'not storable: all MISS');
is(upstream_count(), 5, 'not storable: each went upstream');

# a lock held past ci_jobs_cache_lock_timeout
$t->forget_upstream_requests;
@r = crowd('/lock/jobs/faultslow1', 4);
is(scalar(grep { $_->{status} == 200 } @r), 4, 'lock timeout: all 200');
is(upstream_count(), 4, 'lock timeout: the waiters went upstream');

# A reload while requests wait for the lock: the old workers finish them
# all, the waiters with the answer they waited for, as nginx's own cache
# lock has it.  Workers that dropped them would log "open socket left".
$t->forget_upstream_requests;
my @waiting = ask('/terminal/jobs/faultslowms800', 6);
sleep 0.3;
$t->reload;
@r = answers(@waiting);
is(scalar(grep { $_->{status} == 200 } @r), 6,
   'a reload while 5 requests wait: all 200');
is(scalar(grep { $_->{body} eq $r[0]{body} } @r), 6,
   'a reload while requests wait: the same body');
is(upstream_count(), 1, 'a reload while requests wait: one upstream request');
unlike($t->error_log, qr/open socket/, 'no connection left at the reload');

# --- the wrong answers are never stored --------------------------------------

for my $case (
    [ '/terminal/jobs/faultmissing,jobsSuccess11', 'a JobsDetail missing' ],
    [ '/terminal/jobs/faultwrongid', "another job's JobId" ],
    [ '/ci/jobs/faultwrongid', "another job's JobId, pending on" ],
    [ '/ci/jobs/faultmissing', 'no JobsDetail, pending on' ],
) {
    my ($target, $what) = @$case;
    $t->forget_upstream_requests;
    my @s = map { cache_of($t->get($target)) } 1 .. 2;
    is_deeply(\@s, [qw(MISS MISS)], "$what: never stored");
    is(upstream_count(), 2, "$what: both upstream");
}

# larger than the zone: not stored, and nothing evicted for it
$t->get('/small/jobs/jobsSuccess12');
my $big = join ',', map { "jobsSuccess$_" } 21 .. 30;
my @s = map { cache_of($t->get("/small/jobs/$big")) } 1 .. 2;
is_deeply(\@s, [qw(MISS MISS)], 'an answer larger than the zone: not stored');
is(cache_of($t->get('/small/jobs/jobsSuccess12')), 'HIT',
   'larger than the zone: the other entries stay');

# --- pending entries ---------------------------------------------------------

$t->forget_upstream_requests;
@s = map { cache_of($t->get('/ci/jobs/jobsRunning61')) } 1 .. 3;
is_deeply(\@s, [qw(MISS HIT HIT)], 'a running job: kept for a second');
sleep 1.2;
is(cache_of($t->get('/ci/jobs/jobsRunning61')), 'EXPIRED',
   'then asked again');
is(upstream_count(), 2, 'a running job: two upstream requests');
is(cache_of($t->get('/terminal/jobs/jobsRunning62')), 'MISS',
   'ci_jobs_cache_valid_pending 0: never kept');
is(cache_of($t->get('/terminal/jobs/jobsRunning62')), 'MISS',
   'ci_jobs_cache_valid_pending 0: never kept, again');

my $list = '/ci/jobs?tag=Translation&queueId=p893bcda225bf4945a378da6662e81a89';
my $list2 = '/ci/jobs?queueId=p893bcda225bf4945a378da6662e81a89&tag=Translation';
is(cache_of($t->get($list)), 'MISS', 'a list page: MISS');
is(cache_of($t->get($list2)), 'HIT',
   'the same page, parameters in another order: HIT');
is(cache_of($t->get('/terminal/jobs?queueId=p893bcda225bf4945a378da6662e81a89'
                    . '&tag=Translation')),
   'BYPASS', 'a list page without valid_pending: BYPASS');

# --- stale on error -----------------------------------------------------------

# entries are the target's: stored through the location that serves them
my $fresh = $t->get('/downstale/jobs/jobsRunning63');
$t->stop_emulator('plain');
sleep 1.2;
my $stale = $t->get('/downstale/jobs/jobsRunning63');
is($stale->{status}, 200, 'upstream down, expired entry: 200');
is(cache_of($stale), 'STALE', 'marked STALE');
is($stale->{body}, $fresh->{body}, 'the stored answer');
is($stale->{headers}{'x-ci-request-id'}, $fresh->{headers}{'x-ci-request-id'},
   'its x-ci-request-id');
my $down = $t->get('/down/jobs/jobsRunning63');
is($down->{status}, 502, 'ci_jobs_cache_use_stale off: 502');
is(CiJobsTest::error_code($down), 'BadGateway', 'CI error shape');
is($t->get('/downstale/jobs/jobsRunning64')->{status}, 502,
   'use_stale, nothing stored: 502');
$t->restart_emulator('plain');

# --- a polling crowd ----------------------------------------------------------

my @jobs = ((map { "jobsRunning$_" } 101 .. 115), 'timed5x1');
my $procs = 16;
my $per = 8;
my $seconds = 10;
my $log = $t->dir . '/crowd.log';

$t->forget_upstream_requests;
my $start = time;
my @kids;
for my $p (0 .. $procs - 1) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $out, '>', "$log.$p" or POSIX::_exit(1);
        my @conns;
        for my $c (0 .. $per - 1) {
            push @conns, {
                sock => IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
                                                          . $t->port),
                job => $jobs[ ($p * $per + $c) % @jobs ] };
        }
        while (time < $start + $seconds) {
            my $sent = time;
            for (@conns) {
                my $s = $_->{sock};
                print $s "GET /ci/jobs/$_->{job} HTTP/1.1\r\n"
                       . "Host: localhost\r\n\r\n";
            }
            for (@conns) {
                my $s = $_->{sock};
                my $raw = '';
                while ($raw !~ /\r\n\r\n/) {
                    sysread($s, $raw, 65536, length $raw) or last;
                }
                my ($len) = $raw =~ /\r\nContent-Length: (\d+)/i;
                my ($head) = $raw =~ /\A(.*?\r\n\r\n)/s;
                while (defined $len && length($raw) < length($head) + $len) {
                    sysread($s, $raw, 65536, length $raw) or last;
                }
                my $r = CiJobsTest::parse_response($raw);
                my ($state) = $r->{body} =~ m{<State>(\w+)</State>};
                printf $out "%.4f %s %s %s %s %d %.4f\n", time, $_->{job},
                       $state // '-', cache_of($r),
                       $r->{headers}{'x-ci-request-id'} // '-', $r->{status},
                       $sent;
            }
        }
        close $out;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;

my @answers;
for my $p (0 .. $procs - 1) {
    open my $in, '<', "$log.$p" or next;
    push @answers, map { [ split / / ] } <$in>;
}
my @up = $t->upstream_requests;
my %up_time = map { ($_->{request_id} // '') => $_->{time} } @up;

ok(@answers > 1000, scalar(@answers) . ' answers in ' . $seconds . ' s');
is(scalar(grep { $_->[5] != 200 } @answers), 0, 'every answer 200');
ok(@up <= 16 * 11, scalar(@up) . ' upstream requests, at most 16 x 11');

# A terminal answer is served for ci_jobs_cache_valid, a pending one at
# most 1 s after its upstream request: checked as of the client's request
# (the gateway answered after it was sent); as of the answer's arrival the
# client's own delays count too, reported only.
my ($oldest, $oldest_read) = (0, 0);
for (@answers) {
    next if $_->[2] =~ /\A(?:Success|Failed|Cancel)\z/;
    my $t0 = $up_time{ $_->[4] } // next;
    $oldest = $_->[6] - $t0 if $_->[6] - $t0 > $oldest;
    $oldest_read = $_->[0] - $t0 if $_->[0] - $t0 > $oldest_read;
}
ok($oldest <= 1.1, sprintf 'every pending answer at most 1 s older than '
                            . 'upstream\'s (oldest %.3f s; %.3f s by the time '
                            . 'it was read)', $oldest, $oldest_read);

my ($done) = sort { $a <=> $b }
             map { $_->{time} }
             grep { ($_->{target} // '') =~ /timed5x1/
                    && ($_->{response} // '') =~ m{<State>Success</State>} }
             @up;
ok(defined $done, 'the timed job finished mid-run');
$done //= 0;
my @late = grep { $_->[1] eq 'timed5x1' && $_->[0] > $done + 1.1 } @answers;
ok(@late > 0, scalar(@late) . ' answers for it more than 1 s after');
is(scalar(grep { $_->[2] ne 'Success' } @late), 0,
   'every one of them Success');
my @after = grep { $_->[0] > $done + 1.5 } @late;
is(scalar(grep { $_->[3] ne 'HIT' } @after), 0, 'and a terminal HIT');
is(scalar(grep { ($_->{target} // '') =~ /timed5x1/
                 && $_->{time} > $done + 0.5 } @up), 0,
   'not asked upstream again');

# ci_jobs_status counts COLLAPSED and STALE; entries that only held a lock
# are no answers held, before or after they go
my %m = $t->get('/status')->{body} =~ /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/mg;
ok(($m{'ci_jobs_cache_requests_total{zone="ci_jobs",result="COLLAPSED"}'}
    // 0) >= $collapsed, "COLLAPSED counted (at least $collapsed)");
ok(($m{'ci_jobs_cache_requests_total{zone="ci_jobs",result="STALE"}'} // 0)
   >= 1, 'STALE counted');
for my $zone (qw(ci_jobs small)) {
    my $n = $m{qq(ci_jobs_cache_entries{zone="$zone"})} // -1;
    ok($n >= 0 && $n < 10000, "$zone: $n entries, a count that adds up");
}

$t->done;
done_testing;
