#!/usr/bin/perl

# The cache lock survives its holder's disconnect: the request holding a
# key's lock goes away before CI answers (its client closed), and of the
# 5 requests waiting for it, in two workers, one takes the lock over and
# goes upstream while the others keep waiting, and get its answer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Test::More;

my $t = CiJobsTest->new(workers => 2, http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        add_header X-Cache $ci_jobs_cache_status always;
        %%CREDENTIALS%%

        location /ci/ {
            ci_jobs on;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
            ci_jobs_cache_lock_timeout 20s;
        }
    }
EOF

my $target = '/ci/jobs/faultslow2';

sub open_request {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port,
                                  Timeout => 30)
        or die "connect: $!";
    print $s "GET $target HTTP/1.1\r\nHost: localhost\r\n"
           . "Connection: close\r\n\r\n";
    return $s;
}

sub upstream_count {
    return scalar grep { ($_->{target} // '') =~ /faultslow2/ }
                  $t->upstream_requests;
}

my $holder = open_request();
ok(CiJobsTest::wait_for(sub { upstream_count() == 1 }, 10),
   'the first request takes the lock and goes upstream');

my @waiters = map { open_request() } 1 .. 5;
sleep 0.5;
is(upstream_count(), 1, 'five more wait for it');

close $holder;
my $closed = time;

my %buf;
my $sel = IO::Select->new(@waiters);
while ($sel->count && time < $closed + 30) {
    for my $s ($sel->can_read(1)) {
        if (sysread $s, my $chunk, 65536) {
            $buf{ fileno $s } .= $chunk;
        } else {
            $sel->remove($s);
        }
    }
}
my @r = map { CiJobsTest::parse_response($buf{ fileno $_ } // '') } @waiters;

is(scalar(grep { $_->{status} == 200 } @r), 5, 'the holder gone: all 5 get 200');
is(scalar(grep { $_->{body} =~ /<State>Success<\/State>/ } @r), 5,
   'the job\'s answer');
my $upstream = upstream_count();
ok($upstream <= 2, "$upstream upstream requests in all (at most 2)");
my %by;
$by{ $_->{headers}{'x-cache'} // '' }++ for @r;
is($by{MISS}, 1, 'one waiter took the lock over (MISS)')
    or diag explain \%by;
is($by{COLLAPSED}, 4, 'the others kept waiting (COLLAPSED)')
    or diag explain \%by;

$t->done;
done_testing;
