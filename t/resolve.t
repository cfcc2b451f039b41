#!/usr/bin/perl

# CI's host name resolved at run time through nginx's resolver: nginx
# starts although the system cannot resolve the name; under continuous
# load on two workers the answer moves from one address to another and
# every request is a 200, the new address taking requests within the TTL
# and a second; the DNS server falls silent and requests keep going to
# the last address; a name that never resolves is a 502 BadGateway, and
# nothing crashes.  Idle connections to an address gone are closed.  The
# counters say what the resolutions found.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Test::More;

my $ID = 'jobsSuccess1';
my $TTL = 1;

my $t = CiJobsTest->new(
    workers => 2,
    emulators => {
        a => { tls => 'good', address => '127.0.0.2' },
        b => { tls => 'good', address => '127.0.0.3', port_of => 'a' },
    },
    start => 0);

my $host = $CiJobsTest::HOST;

$t->start_dns($host => ['127.0.0.2']);

my $dns = $t->dns_port;

$t->{http} = <<"EOF";
    server {
        listen 127.0.0.1:%%PORT%%;

        %%CREDENTIALS%%
        ci_jobs_ssl_trusted_certificate %%CA%%;
        ci_jobs_read_timeout 5s;

        resolver 127.0.0.1:$dns ipv6=off;
        resolver_timeout 2s;

        location /moving/ {
            ci_jobs on;
            ci_jobs_pass https://%%HOST%%:%%EMU_a%%;
        }

        location /quiet/ {
            ci_jobs on;
            ci_jobs_pass https://quiet.example.test:%%EMU_a%%;
        }

        location /nowhere/ {
            ci_jobs on;
            ci_jobs_pass https://nowhere.invalid.test:%%EMU_a%%;
        }

        location = /status {
            ci_jobs_status;
        }
    }
EOF

# the configuration is good without the name in the system's resolver
my ($rc, $out) = $t->nginx_test($t->{http});
is($rc, 0, 'nginx -t needs no address for the host name') or diag $out;

# the default, https://<bucket>.ci.<region>.myqcloud.com, alike; without
# resolver, as before: a name is resolved when the configuration is read,
# through the system (.invalid never resolves)
my $default = <<"EOF";
    server {
        listen 127.0.0.1:%%PORT%%;
        %%CREDENTIALS%%
        resolver 127.0.0.1:$dns ipv6=off;
        location /ci/ { ci_jobs on; }
    }
EOF
($rc, $out) = $t->nginx_test($default);
is($rc, 0, 'the default URL with resolver: nginx -t') or diag $out;

($rc, $out) = $t->nginx_test($default =~ s/^\s*resolver .*\n//mr
    =~ s{ci_jobs on;}{ci_jobs on; ci_jobs_pass https://ci.invalid;}r);
isnt($rc, 0, 'without resolver, resolved at configuration time');
like($out, qr/host not found/, 'as proxy_pass does');

$t->start_nginx;

# the requests an emulator has answered: its record's lines
sub answered {
    my ($name) = @_;
    open my $fh, '<', $t->dir . "/emu_$name.jsonl" or return 0;
    my $n = 0;
    $n += tr/\n// while sysread $fh, $_, 65536;
    return $n;
}

my $first = $t->get("/moving/jobs/$ID");
is($first->{status}, 200, 'the first request waits for the first answer');
is(answered('a'), 1, 'and goes to its address');
is(answered('b'), 0, 'not to the other');

# load: two clients, each request's time and status in a file

my @loaders;
for my $n (1, 2) {
    my $file = $t->dir . "/load$n.txt";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $fh, '>', $file or die;
        $fh->autoflush(1);
        while (1) {
            my $r = eval { $t->get("/moving/jobs/$ID") };
            printf $fh "%.3f %d\n", time, $r ? $r->{status} : 0;
            sleep 0.01;
        }
    }
    push @loaders, [$pid, $file];
}

# nginx's connections to an address, open (the pooled ones among them)
sub connections_to {
    my ($address) = @_;
    my $port = $t->emulator_port('a');
    my @lines = grep { /\S/ }
        `ss -Htn state established dst $address:$port 2>/dev/null`;
    return scalar @lines;
}

sleep 1.5;

cmp_ok(connections_to('127.0.0.2'), '>', 0,
       'connections to the first address, kept alive');

$t->dns_answer($host => ['127.0.0.3']);
my $changed = time;

my $moved = CiJobsTest::wait_for(sub { answered('b') }, 10);
my $delay = time - $changed;

ok($moved, 'requests go to the new address');
diag sprintf 'from the change of the answer to the first request at the '
           . 'new address: %.2f s', $delay;

# the resolver's cache holds an answer through the second its TTL ends in:
# TTL + 1 s, and a margin for a loaded machine
cmp_ok($delay, '<', $TTL + 1 + 1.5, 'within the TTL and a second');

sleep 1.5;

my $a_before = answered('a');
sleep 2;
is(answered('a'), $a_before,
   'no request goes to the old address any more');
is(connections_to('127.0.0.2'), 0,
   'the idle ones to the old address are closed');

# silence: longer than the TTL and resolver_timeout together

$t->dns_silent;
my $b_before = answered('b');
sleep 5;

cmp_ok(answered('b') - $b_before, '>', 10,
       'with the DNS server silent, requests keep going to the last address');

my @lines;
for my $l (@loaders) {
    kill 'TERM', $l->[0];
    waitpid $l->[0], 0;
    open my $fh, '<', $l->[1] or die;
    push @lines, grep { /^\d/ } <$fh>;
}

my @failed = grep { !/ 200$/ } @lines;
cmp_ok(scalar @lines, '>', 50, scalar(@lines) . ' requests under load');
is(scalar @failed, 0, 'every one of them a 200') or diag "@failed[0 .. 9]";

diag sprintf '%d requests through the change and the silence, %d failed',
             scalar @lines, scalar @failed;

# a name without an answer yet while the DNS server is silent: the request
# waits for the resolution, up to resolver_timeout, then is a 502

my $asked = time;
my $quiet = $t->get("/quiet/jobs/$ID");
my $waited = time - $asked;
is($quiet->{status}, 502, 'no first answer: 502');
is(CiJobsTest::error_code($quiet), 'BadGateway', 'BadGateway');
cmp_ok($waited, '<', 2 + 2, 'within resolver_timeout');

# the name gets an answer (nginx's resolver keeps the NXDOMAIN it had
# before the silence for 10 s): a request waits for the resolution it
# starts, and goes on

$t->dns_answer($host => ['127.0.0.3'], 'quiet.example.test' => ['127.0.0.3']);
my $b_quiet = answered('b');
ok(CiJobsTest::wait_for(sub {
       $t->get("/quiet/jobs/$ID")->{status} == 200 }, 15),
   'the first answer: the waiting request goes on');
is(answered('b') - $b_quiet, 1, 'to its address');

my @streak = $t->error_log =~ /"\Q$host\E" could not be resolved/g;
ok(@streak >= 1 && @streak <= 2,
   'one error a worker for the failure streak') or diag scalar @streak;

# a name that never resolves

my $nowhere = $t->get("/nowhere/jobs/$ID");
is($nowhere->{status}, 502, 'a name that does not resolve: 502');
is(CiJobsTest::error_code($nowhere), 'BadGateway', 'BadGateway');

my $again = $t->get("/nowhere/jobs/$ID");
is($again->{status}, 502, 'again');

is($t->get("/moving/jobs/$ID")->{status}, 200, 'nginx still serves');

my $metrics = $t->get('/status')->{body};
my ($changes) = $metrics
    =~ /^ci_jobs_upstream_resolutions_total\{result="changed"\} (\d+)/m;
my ($failures) = $metrics
    =~ /^ci_jobs_upstream_resolutions_total\{result="failed"\} (\d+)/m;
my ($same) = $metrics
    =~ /^ci_jobs_upstream_resolutions_total\{result="unchanged"\} (\d+)/m;
cmp_ok($changes // 0, '>=', 3, 'resolutions that changed the answer counted');
cmp_ok($failures // 0, '>=', 2, 'failed ones');
cmp_ok($same // 0, '>=', 2, 'unchanged ones');

$t->done;
done_testing;
